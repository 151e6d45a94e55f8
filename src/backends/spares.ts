import type { Enclave, EnclaveEvent } from "./backend.js";

/**
 * Events of an enclave started before anyone listens: kept (bounded) until a run claims it, then passed
 * on as they come. A spare VMM waiting for its state prints nothing; an early exit is the one event kept.
 */
export class SinkRelay {
  private target: ((ev: EnclaveEvent) => void) | null = null;
  private held: EnclaveEvent[] = [];

  readonly sink = (ev: EnclaveEvent): void => {
    if (this.target) this.target(ev);
    else if (this.held.length < 64) this.held.push(ev);
  };

  attach(target: (ev: EnclaveEvent) => void): void {
    this.target = target;
    for (const ev of this.held.splice(0)) target(ev);
  }
}

/** A started spare: its enclave, whatever else the backend needs to drive it, and its event relay. */
export interface Spare<T extends { enclave: Enclave }> {
  launched: T;
  relay: SinkRelay;
}

interface Entry<T extends { enclave: Enclave }> {
  key: string;
  group: string;
  ready: Promise<Spare<T> | null>;
}

/**
 * VMM processes started ahead of the runs that will claim them: a QEMU process spends ~50 ms on this
 * host just being linked and started before it can take a snapshot's state. A spare is keyed by
 * everything that shapes it (its command line, the identity of the RAM file it maps); spares of the same
 * group (snapshot) with another key are stale and killed. `close()` kills every spare left.
 */
export class SparePool<T extends { enclave: Enclave }> {
  private entries: Entry<T>[] = [];
  private closed = false;

  constructor(private readonly max = 4) {}

  /** A live spare for `key`, or null (none there, or it died while waiting). */
  async claim(key: string): Promise<Spare<T> | null> {
    const i = this.entries.findIndex((e) => e.key === key);
    if (i < 0) return null;
    const [entry] = this.entries.splice(i, 1);
    const spare = await entry?.ready;
    if (!spare) return null;
    if ((await Promise.race([spare.launched.enclave.exited, Promise.resolve(null)])) !== null) return null;
    return spare;
  }

  /** Start a spare for `key` in `group` with `start`, replacing stale spares of the group. */
  add(key: string, group: string, start: () => Promise<Spare<T>>): void {
    if (this.closed) return;
    for (const stale of this.entries.filter((e) => e.group === group && e.key !== key)) this.kill(stale);
    if (this.entries.filter((e) => e.key === key).length >= this.max) return;
    // A spare that fails to start is no error of any run: the run that wanted it starts its own VMM.
    this.entries.push({ key, group, ready: start().catch(() => null) });
  }

  /** Kill every spare; later `add`s start nothing. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.entries.splice(0).map((e) => this.kill(e)));
  }

  private async kill(entry: Entry<T>): Promise<void> {
    this.entries = this.entries.filter((e) => e !== entry);
    await (await entry.ready)?.launched.enclave.stop();
  }
}
