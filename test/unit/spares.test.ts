import { describe, expect, it } from "vitest";
import type { Enclave, EnclaveEvent } from "../../src/backends/backend.js";
import { SinkRelay, SparePool } from "../../src/backends/spares.js";
import type { EnclaveExit } from "../../src/model/outcome-types.js";

/** A stand-in process: only the pool's bookkeeping is under test here (real spares: snapshot.test.ts). */
function fakeEnclave() {
  let end: (e: EnclaveExit) => void = () => {};
  const exited = new Promise<EnclaveExit>((r) => {
    end = r;
  });
  const enclave = {
    pid: 1,
    exited,
    send: () => {},
    stop: async () => {
      end({ kind: "signaled", signal: "SIGTERM" });
      return exited;
    },
    [Symbol.asyncDispose]: async () => {},
  } satisfies Enclave;
  return { enclave, end };
}

function spare() {
  const f = fakeEnclave();
  return { f, start: async () => ({ launched: { enclave: f.enclave }, relay: new SinkRelay() }) };
}

const stopped = async (p: Promise<EnclaveExit>) => (await Promise.race([p, Promise.resolve(null)])) !== null;

describe("spare pool", () => {
  it("hands a spare to the key it was started for, once", async () => {
    const pool = new SparePool<{ enclave: Enclave }>();
    const a = spare();
    pool.add("k1", "snap", a.start);
    expect(await pool.claim("k2")).toBeNull();
    expect((await pool.claim("k1"))?.launched.enclave).toBe(a.f.enclave);
    expect(await pool.claim("k1")).toBeNull();
  });

  it("does not hand out a spare that died while waiting", async () => {
    const pool = new SparePool<{ enclave: Enclave }>();
    const a = spare();
    pool.add("k1", "snap", a.start);
    a.f.end({ kind: "exited", code: 1 });
    expect(await pool.claim("k1")).toBeNull();
  });

  it("kills spares of the same snapshot made for another key (a rebuilt snapshot), and all on close", async () => {
    const pool = new SparePool<{ enclave: Enclave }>();
    const old = spare();
    const other = spare();
    const fresh = spare();
    pool.add("old", "snap", old.start);
    pool.add("x", "other-snap", other.start);
    pool.add("new", "snap", fresh.start);
    await expect(old.f.enclave.exited).resolves.toEqual({ kind: "signaled", signal: "SIGTERM" });
    expect(await stopped(other.f.enclave.exited)).toBe(false);
    await pool.close();
    expect(await stopped(other.f.enclave.exited)).toBe(true);
    expect(await stopped(fresh.f.enclave.exited)).toBe(true);
    pool.add("late", "snap", spare().start);
    expect(await pool.claim("late")).toBeNull();
  });
});

describe("sink relay", () => {
  it("keeps events until attached, then passes them on in order", () => {
    const relay = new SinkRelay();
    const ev = (n: number): EnclaveEvent => ({ type: "console", data: Buffer.from(String(n)), at: n });
    relay.sink(ev(1));
    const seen: EnclaveEvent[] = [];
    relay.attach((e) => seen.push(e));
    relay.sink(ev(2));
    expect(seen.map((e) => e.at)).toEqual([1, 2]);
  });
});
