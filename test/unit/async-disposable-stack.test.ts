import { describe, expect, it } from "vitest";
import { AsyncDisposableStack } from "../../src/campaign/async-disposable-stack.js";

describe("AsyncDisposableStack", () => {
  it("releases in reverse order of registration, once", async () => {
    const order: string[] = [];
    const stack = new AsyncDisposableStack();
    stack.defer(() => {
      order.push("first");
    });
    stack.use({ [Symbol.dispose]: () => order.push("sync") });
    stack.use({ [Symbol.asyncDispose]: async () => void order.push("async") });
    stack.adopt("value", (v) => void order.push(v));
    stack.use(null);
    await stack.disposeAsync();
    await stack.disposeAsync();
    expect(order).toEqual(["value", "async", "sync", "first"]);
    expect(stack.disposed).toBe(true);
  });

  it("runs every release even when one throws, then rethrows it", async () => {
    const order: string[] = [];
    const stack = new AsyncDisposableStack();
    stack.defer(() => void order.push("a"));
    stack.defer(() => {
      throw new Error("b failed");
    });
    stack.defer(() => void order.push("c"));
    await expect(stack.disposeAsync()).rejects.toThrow("b failed");
    expect(order).toEqual(["c", "a"]);
  });

  it("several failures become one AggregateError", async () => {
    const stack = new AsyncDisposableStack();
    stack.defer(() => Promise.reject(new Error("x")));
    stack.defer(() => Promise.reject(new Error("y")));
    await expect(stack.disposeAsync()).rejects.toBeInstanceOf(AggregateError);
  });

  it("move hands ownership to a new stack: the old one releases nothing", async () => {
    const order: string[] = [];
    const stack = new AsyncDisposableStack();
    stack.defer(() => void order.push("moved"));
    const owner = stack.move();
    await stack.disposeAsync();
    expect(order).toEqual([]);
    expect(() => stack.defer(() => {})).toThrow(ReferenceError);
    await owner[Symbol.asyncDispose]();
    expect(order).toEqual(["moved"]);
  });
});
