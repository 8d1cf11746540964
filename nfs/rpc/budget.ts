/**
 * The bytes every connection of one server holds for calls, counted together: what was received
 * and not yet taken as a record (plus what a record in progress was promised, see
 * RecordDecoder.committedBytes), the records whose procedures run, and the replies the kernel
 * has not taken yet. The per-connection in-flight limit alone lets N connections hold N times as
 * much; 50 clients pipelining 1 MiB WRITEs against a stalled object store would hold gigabytes.
 *
 * A connection asks `admits()` before it starts a new record. Above `limitBytes` it is refused,
 * stops reading (the socket is paused, TCP pushes back on the client) and waits here; it is woken
 * in arrival order once bytes are released. A record already in progress is always read to its
 * end: its bytes were charged when it began, and refusing them could leave the whole budget in
 * half-received records that nothing would ever release.
 *
 * Fairness: a connection with no call in flight and no reply pending may also use `reserveBytes`
 * above the limit (counted apart, until it holds nothing again). Connections whose calls wait
 * on a stalled store then hold the whole limit, and a client that only wants a GETATTR or a
 * MNT still gets through.
 *
 * Progress: bytes a socket delivered before it could be paused count too. If they alone fill
 * the limit while no call runs (nothing would ever be released), the first waiter gets a turn:
 * one record whatever the budget says.
 *
 * Bound: limitBytes + reserveBytes + one record (the last one admitted, or a turn) + what
 * sockets delivered after they were asked to pause (at most a read or two each).
 */
import { assert } from "../../src/assert.ts";

export interface BudgetWaiter {
  /** No call in flight and no reply pending: may use the reserve. */
  holdsNothing(): boolean;
  /** Room was released, or `turn`: take one record whatever the budget says. */
  retry(turn: boolean): void;
}

/** Which pool admitted a new record. */
export type Admission = "main" | "reserve";

export class HeldBytesBudget {
  readonly limitBytes: number;
  readonly reserveBytes: number;
  private usedBytes = 0;
  /** Held by connections admitted through the reserve (part of usedBytes). */
  private reserveUsedBytes = 0;
  /** Held by running calls and pending replies: what will be released without new input. */
  private releasableBytes = 0;
  /** In arrival order (a Set keeps insertion order). */
  private readonly waiting = new Set<BudgetWaiter>();
  private wakeScheduled = false;

  constructor(limitBytes: number, reserveBytes: number) {
    assert(Number.isInteger(limitBytes) && limitBytes > 0);
    assert(Number.isInteger(reserveBytes) && reserveBytes >= 0);
    this.limitBytes = limitBytes;
    this.reserveBytes = reserveBytes;
  }

  get heldBytes(): number {
    return this.usedBytes;
  }

  get waiters(): number {
    return this.waiting.size;
  }

  /** May a connection start taking a new record now, and from which pool? */
  admits(holdsNothing: boolean): Admission | undefined {
    if (this.usedBytes - this.reserveUsedBytes < this.limitBytes) return "main";
    if (holdsNothing && this.reserveUsedBytes < this.reserveBytes) return "reserve";
    return undefined;
  }

  /**
   * A connection's held bytes changed by heldDeltaBytes (negative: released), of which
   * releasableDeltaBytes in running calls and pending replies; inReserve: it was admitted
   * through the reserve.
   */
  change(heldDeltaBytes: number, releasableDeltaBytes: number, inReserve: boolean): void {
    this.usedBytes += heldDeltaBytes;
    this.releasableBytes += releasableDeltaBytes;
    if (inReserve) this.reserveUsedBytes += heldDeltaBytes;
    assert(this.usedBytes >= 0 && this.releasableBytes >= 0 && this.reserveUsedBytes >= 0);
    assert(this.releasableBytes <= this.usedBytes && this.reserveUsedBytes <= this.usedBytes);
    if (heldDeltaBytes < 0 && this.waiting.size > 0) this.scheduleWake();
  }

  /** A connection admitted through the reserve: what it holds already moves there. */
  enterReserve(heldBytes: number): void {
    this.reserveUsedBytes += heldBytes;
    assert(this.reserveUsedBytes <= this.usedBytes);
  }

  wait(waiter: BudgetWaiter): void {
    this.waiting.add(waiter);
    // Nothing will be released if nothing runs: see wake().
    if (this.releasableBytes === 0) this.scheduleWake();
  }

  leave(waiter: BudgetWaiter): void {
    this.waiting.delete(waiter);
  }

  /** Deferred: a release happens deep inside another connection's write or close. */
  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    queueMicrotask(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiting]) {
      if (this.admits(true) === undefined) break;
      if (this.admits(waiter.holdsNothing()) === undefined) continue;
      this.waiting.delete(waiter);
      waiter.retry(false);
    }
    // Everything held is input that waits to be parsed, and no call runs whose end would
    // release anything: the first waiter takes one record regardless, or all would wait forever.
    const first = this.waiting.values().next();
    if (this.releasableBytes === 0 && !first.done) {
      this.waiting.delete(first.value);
      first.value.retry(true);
    }
  }
}
