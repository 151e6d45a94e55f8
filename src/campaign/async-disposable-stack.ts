/**
 * A small `AsyncDisposableStack` (Node 20 has none): resources and undo callbacks registered in order,
 * released in reverse (LIFO) order once. Every callback runs even when an earlier one throws; then the
 * error is rethrown (several: one AggregateError). Shape of changesets' `ponyfills/async-disposable-stack.ts`.
 */
export class AsyncDisposableStack implements AsyncDisposable {
  private undo: (() => PromiseLike<void> | void)[] = [];
  private isDisposed = false;

  /** True once `disposeAsync` ran or ownership moved away. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /** Register `resource` (null/undefined are skipped) to be disposed with the stack; returns it. */
  use<T extends AsyncDisposable | Disposable | null | undefined>(resource: T): T {
    if (resource) {
      this.defer(() =>
        Symbol.asyncDispose in resource
          ? (resource as AsyncDisposable)[Symbol.asyncDispose]()
          : (resource as Disposable)[Symbol.dispose](),
      );
    }
    return resource;
  }

  /** Register `value` with its own release function; returns the value. */
  adopt<T>(value: T, release: (value: T) => PromiseLike<void> | void): T {
    this.defer(() => release(value));
    return value;
  }

  /** Register an undo callback. */
  defer(fn: () => PromiseLike<void> | void): void {
    if (this.isDisposed) throw new ReferenceError("AsyncDisposableStack already disposed");
    this.undo.push(fn);
  }

  /** Hand every registration to a new stack (ownership moves to the caller); this one becomes disposed. */
  move(): AsyncDisposableStack {
    if (this.isDisposed) throw new ReferenceError("AsyncDisposableStack already disposed");
    const next = new AsyncDisposableStack();
    next.undo = this.undo;
    this.undo = [];
    this.isDisposed = true;
    return next;
  }

  /** Run every registered callback, last first, once. */
  async disposeAsync(): Promise<void> {
    if (this.isDisposed) return;
    this.isDisposed = true;
    const errors: unknown[] = [];
    for (const fn of this.undo.reverse()) {
      try {
        await fn();
      } catch (e) {
        errors.push(e);
      }
    }
    this.undo = [];
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "several resources failed to release");
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.disposeAsync();
  }
}
