import { describe, expect, it } from "vitest";
import { html, joinHtml, raw, SafeHtml } from "../../src/report/html-template.js";

describe("the html template", () => {
  it("escapes every interpolated string, in text and in attributes, and makes controls visible", () => {
    const evil = `<img src=x onerror="alert('1')"> & \x1b[31m`;
    expect(html`<td title="${evil}">${evil}</td>`.toString()).toBe(
      '<td title="&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; \\x1b[31m">' +
        "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; \\x1b[31m</td>",
    );
  });

  it("keeps nested html and raw as markup, renders lists item by item and nothing for null or false", () => {
    const items = ["a<b", html`<b>bold</b>`, 3];
    expect(html`<p>${items}${null}${undefined}${false}${raw("<br>")}</p>`.toString()).toBe(
      "<p>a&lt;b<b>bold</b>3<br></p>",
    );
    expect(html`${true}`.toString()).toBe("true");
  });

  it("joins values with a markup separator, escaping the values", () => {
    expect(joinHtml(["<x>", html`<i>y</i>`], html`<br>`).toString()).toBe("&lt;x&gt;<br><i>y</i>");
    expect(joinHtml([], html`<br>`).toString()).toBe("");
  });

  it("cannot be made outside the module: a plain object or a forged key is not markup", () => {
    const forged = { toString: () => "<script>" };
    expect(html`${forged as unknown as string}`.toString()).toBe("&lt;script&gt;");
    expect(() => new SafeHtml(Symbol("SafeHtml") as never, "<script>")).toThrow(TypeError);
  });
});
