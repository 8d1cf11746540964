import { expect, test } from "bun:test";
import { TxnLock } from "../../src/meta/txnlock.ts";

test("a free lock is taken at once; waiters get it in order, one at a time, handed over", async () => {
  const lock = new TxnLock();
  expect(lock.tryAcquire()).toBe(true);
  expect(lock.tryAcquire()).toBe(false);
  const order: number[] = [];
  let inside = 1; // the first holder
  const count = 3000; // more than the queue's compaction threshold
  const waiters = Array.from({ length: count }, (_, i) =>
    lock.acquire().then(async () => {
      expect(inside).toBe(0);
      inside += 1;
      order.push(i);
      await Promise.resolve(); // others run meanwhile; none may get in
      expect(lock.tryAcquire()).toBe(false);
      inside -= 1;
      lock.release();
    }),
  );
  inside -= 1;
  lock.release();
  // Handed to the first waiter, not freed: a newcomer cannot slip in ahead of the queue.
  expect(lock.held).toBe(true);
  expect(lock.tryAcquire()).toBe(false);
  await Promise.all(waiters);
  expect(order).toEqual(Array.from({ length: count }, (_, i) => i));
  expect(lock.held).toBe(false);
  expect(lock.tryAcquire()).toBe(true);
  lock.release();
  expect(() => lock.release()).toThrow("not held");
});
