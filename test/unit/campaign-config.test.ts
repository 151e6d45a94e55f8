import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCampaign } from "../../src/campaign/load.js";
import { ConfigError } from "../../src/util/errors.js";

const DIR = "test/fixtures/configs";
const bad = readdirSync(join(DIR, "bad")).filter((f) => f.endsWith(".yaml"));
const good = readdirSync(join(DIR, "good")).filter((f) => f.endsWith(".yaml"));

describe("malformed campaign corpus: one clear error naming the file, line and key path", () => {
  it("has at least 30 cases", () => expect(bad.length).toBeGreaterThanOrEqual(30));

  it.each(bad)("%s", (name) => {
    const file = join(DIR, "bad", name);
    const text = readFileSync(file, "utf8");
    const expected = /^# expect: (.*)$/m.exec(text)?.[1];
    if (!expected) throw new Error(`${file}: first line must be "# expect: <regex>"`);
    let error: unknown = null;
    try {
      parseCampaign(text, file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message.startsWith(`${file}: `)).toBe(true);
    expect(message).toMatch(new RegExp(expected));
  });
});

describe("valid campaigns", () => {
  it.each(good)("%s parses with defaults filled in", (name) => {
    const c = parseCampaign(readFileSync(join(DIR, "good", name), "utf8"), name);
    expect(c.backends.length).toBeGreaterThan(0);
    expect(c.timeouts.runSeconds).toBeGreaterThanOrEqual(c.timeouts.bootSeconds);
    expect(c.infra.retries).toBeGreaterThanOrEqual(0);
  });

  it.each(readdirSync("examples/campaigns"))("the shipped example campaigns/%s is valid", (f) => {
    expect(() => parseCampaign(readFileSync(join("examples/campaigns", f), "utf8"), f)).not.toThrow();
  });
});
