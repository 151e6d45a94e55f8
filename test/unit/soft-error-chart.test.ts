import { describe, expect, it } from "vitest";
import type { SoftClass } from "../../src/model/soft-error.js";
import { softErrorHtml } from "../../src/report/soft-error-chart.js";
import { FIXTURE_PARAMS, storedRun } from "../helpers/report-fixtures.js";

const flip = (backend: string, target: "data" | "registers", softClass: SoftClass | null) =>
  storedRun(backend, "contained-limited", {
    fault: "bitflip",
    zone: 4,
    params: { ...FIXTURE_PARAMS, softError: { target } },
    softClass,
  });

describe("the soft-error chart of the HTML report", () => {
  it("draws one bar per class and group, its height the class's share, with its interval", () => {
    const runs = [
      ...Array.from({ length: 3 }, () => flip("native", "data", "silent-data-corruption")),
      flip("native", "data", "benign"),
      flip("qemu-tcg", "registers", "detected"),
    ];
    const page = softErrorHtml(runs)?.toString() ?? "";
    expect(page.match(/<g class="soft-bar"/g)).toHaveLength(8);
    // 3 of 4 flips: 75% of the 180-pixel plot; whisker over Clopper–Pearson 19–99%.
    expect(page).toMatch(
      /data-backend="native" data-target="data" data-class="silent-data-corruption" data-count="3" data-n="4"><title>native · data: silent-data-corruption 3\/4 = 75% \(95% interval 19%–99%\)<\/title><rect [^>]*height="135\.0"/,
    );
    expect(page).toContain("<td>3 (19–99%)</td>");
  });

  it("escapes a hostile backend name in the chart and the table", () => {
    const page = softErrorHtml([flip(`evil<script>x()</script>"`, "data", null)])?.toString() ?? "";
    expect(page).not.toContain("<script>");
    expect(page).toContain("evil&lt;script&gt;x()&lt;/script&gt;&quot;");
    expect(page).toContain('data-backend="evil&lt;script&gt;x()&lt;/script&gt;&quot;"');
  });

  it("is left out when no bit flip was run", () => {
    expect(softErrorHtml([storedRun("qemu-tcg", "contained-limited")])).toBeNull();
  });
});
