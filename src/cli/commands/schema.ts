import { z } from "zod";
import { campaignSchema } from "../../campaign/schema.js";

/** `ezone schema`: the campaign file's JSON Schema, for editors (yaml-language-server) and CI linting. */
export async function run(): Promise<void> {
  const schema = z.toJSONSchema(campaignSchema, { io: "input", unrepresentable: "any" });
  process.stdout.write(`${JSON.stringify({ title: "ezone campaign", ...schema }, null, 2)}\n`);
}
