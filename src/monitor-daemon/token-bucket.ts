/** A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. Time is injected. */
export class TokenBucket {
  #tokens: number;
  #last: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number,
  ) {
    if (!(ratePerSecond > 0) || !(burst >= 1))
      throw new RangeError(`TokenBucket: rate ${ratePerSecond}/s and burst ${burst} must be positive`);
    this.#tokens = burst;
    this.#last = now();
  }

  /** Take one token; false when the bucket is empty. */
  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((t - this.#last) / 1000) * this.ratePerSecond);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
