import { compileStaticC } from "./image-builder.js";

/** Compile hostd (every .c of src/guest/hostd, static, the agent's flags) to `out`. */
export function compileHostd(out: string, signal?: AbortSignal): Promise<string> {
  return compileStaticC("hostd", out, "host-image.build-hostd", signal);
}
