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
 * Fairness: a connection with no call in flight and no reply pending may always take one small
 * record (RPC_SMALL_RECORD_BYTES_MAX: any call but a big WRITE), whatever the budget says (see
 * RpcConnection.admission). Connections whose calls wait on a stalled store then hold the whole
 * limit, and a client that wants a MNT, a GETATTR or a COMMIT still gets through.
 *
 * Progress: bytes a socket delivered before it could be paused count too. If they alone fill
 * the limit while no call runs (nothing would ever be released), the first waiter gets a turn:
 * one record whatever the budget says.
 *
 * Bound: limitBytes + one record (the last one admitted, or a turn) + per connection one small
 * record and what its socket delivered after it was asked to pause (a read or two).
 */
import { assert } from "../../src/assert.ts";
import { RPC_GC_NUDGE_BYTES } from "../../src/limits.ts";

export interface BudgetWaiter {
  /** Room was released, or `turn`: take one record whatever the budget says. */
  retry(turn: boolean): void;
}

export class HeldBytesBudget {
  readonly limitBytes: number;
  private usedBytes = 0;
  /** Held by running calls and pending replies: what will be released without new input. */
  private releasableBytes = 0;
  /** In arrival order (a Set keeps insertion order). */
  private readonly waiting = new Set<BudgetWaiter>();
  private wakeScheduled = false;
  private receivedSinceGcBytes = 0;

  constructor(limitBytes: number) {
    assert(Number.isInteger(limitBytes) && limitBytes > 0);
    this.limitBytes = limitBytes;
  }

  get heldBytes(): number {
    return this.usedBytes;
  }

  get waiters(): number {
    return this.waiting.size;
  }

  /** May a connection start taking a new record now? */
  admits(): boolean {
    return this.usedBytes < this.limitBytes;
  }

  /**
   * Bytes a socket delivered. Each chunk, and each record copied out of several, is garbage
   * once its call is answered, and the collector paces itself by the JS heap, which they barely
   * touch: under a WRITE flood dead ones piled up to hundreds of MiB of RSS. So every
   * RPC_GC_NUDGE_BYTES received, a cheap young-generation collection is asked for (as
   * allocUnowned does for read replies).
   */
  noteReceived(bytes: number): void {
    this.receivedSinceGcBytes += bytes;
    if (this.receivedSinceGcBytes < RPC_GC_NUDGE_BYTES) return;
    this.receivedSinceGcBytes = 0;
    Bun.gc(false);
  }

  /**
   * A connection's held bytes changed by heldDeltaBytes (negative: released), of which
   * releasableDeltaBytes in running calls and pending replies.
   */
  change(heldDeltaBytes: number, releasableDeltaBytes: number): void {
    this.usedBytes += heldDeltaBytes;
    this.releasableBytes += releasableDeltaBytes;
    assert(this.usedBytes >= 0 && this.releasableBytes >= 0);
    assert(this.releasableBytes <= this.usedBytes);
    if (heldDeltaBytes < 0 && this.waiting.size > 0) this.scheduleWake();
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
      if (!this.admits()) break;
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
