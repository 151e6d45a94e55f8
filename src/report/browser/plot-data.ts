/**
 * The continuum plot data the report embeds as JSON (`html.ts` writes it, `report-client.ts` reads it in
 * the browser). Types only, no imports: both the Node build and the browser build read this file.
 */

/** One point of the continuum plot: a backend's containment (in a zone or pooled) and its overhead. */
export interface PlotPoint {
  backend: string;
  /** A zone number as text, or `all` for the fault runs of every zone pooled. */
  zone: "all" | `${1 | 2 | 3 | 4}`;
  x: number;
  n: number;
  rate: number;
  lower95: number;
  top: 1;
  color: string;
  overhead: { ratio: number; min: number; max: number } | null;
}

/** The points of one campaign's plot; `index` numbers the page's plot elements. */
export interface CampaignPlot {
  index: number;
  campaign: string;
  points: PlotPoint[];
}

/** The whole embedded payload (`<script type="application/json" id="ezone-data">`). */
export interface PlotData {
  campaigns: CampaignPlot[];
}
