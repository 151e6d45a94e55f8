/**
 * HTML safe by construction: `html` is a tagged template whose interpolations are escaped unless they
 * are markup already — the result of another `html`, or text explicitly marked with `raw` (only for what
 * ezone generates itself: numbers formatted into SVG, JSON made safe for a script element, its own
 * scripts and styles). Escaping makes controls visible first (`\x1b` ...), then escapes the five HTML
 * characters, so the text is safe both between tags and inside a quoted attribute value.
 */
import { escapeControl, escapeHtml } from "../util/escape.js";

/** Proves a `SafeHtml` was made in this module. */
const MADE_HERE = Symbol("SafeHtml");

/** Markup that may be put in a page as is. Only `html`, `raw` and `joinHtml` make one. */
export class SafeHtml {
  readonly #markup: string;

  constructor(key: typeof MADE_HERE, markup: string) {
    if (key !== MADE_HERE) throw new TypeError("SafeHtml is made by html`...` or raw(), nothing else");
    this.#markup = markup;
  }

  toString(): string {
    return this.#markup;
  }
}

/** What may be interpolated: markup, text (escaped), nothing (null, undefined, false), or a list of them. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(escapeControl(String(value)));
}

/** A piece of markup: the template's own text as written, every interpolated value escaped (see above). */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i] as HtmlValue) + (strings[i + 1] ?? "");
  return new SafeHtml(MADE_HERE, out);
}

/**
 * Text put in the page unescaped. Only for markup ezone generates from its own data (SVG coordinates, a
 * `jsonForScript` payload, its scripts and CSS), never for anything a guest, a config or a database wrote.
 */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(MADE_HERE, markup);
}

/** The values rendered one after another with `separator` (markup) between them. */
export function joinHtml(values: readonly HtmlValue[], separator: SafeHtml): SafeHtml {
  return new SafeHtml(MADE_HERE, values.map(render).join(separator.toString()));
}
