// REDIS_WAIT_REPLICAS: a write is only acknowledged once N replicas have it, so a failover
// (which promotes a replica) cannot lose it. Redis's WAIT covers the writes made earlier on
// the same connection, so it must go where the write went: on a Cluster, the pooled
// connection of the slot's master (`slotNode`).
//
// WAIT blocks its connection, and the connections are shared: concurrent callers therefore
// share one WAIT per round (a write that finished before a WAIT was sent is covered by it),
// which keeps enqueue throughput independent of the replica round trip.
//
// A WAIT that answers on a different TCP session than the write's proves nothing (a
// reconnect to a promoted replica would answer "0 writes pending" at once), so each round
// checks that the connection has not closed since the write.
import type { Redis } from "ioredis";
import { slotNode } from "./connect.ts";

export interface ReplicaAckOptions {
  /** Replicas that must have a write. 0 turns the whole thing off. */
  replicas: number;
  /** How long WAIT may block. Default 1000 ms. */
  timeoutMs?: number;
}

/** Fewer replicas than required acknowledged a write (or we could not tell). */
export class ReplicaAckError extends Error {
  override name = "ReplicaAckError";
  /**
   * @param shortfall true: WAIT answered, with too few replicas (the write is on the master);
   *   false: the connection failed or changed, so the write may not even be there.
   */
  constructor(message: string, readonly shortfall: boolean) {
    super(message);
  }
}

interface Waiter {
  closes: number;
  resolve(): void;
  reject(err: Error): void;
}

interface NodeState {
  /** Times the connection closed: a write and its WAIT must see the same count. */
  closes: number;
  inFlight: boolean;
  next: Waiter[];
}

export class ReplicaAcks {
  readonly replicas: number;
  readonly timeoutMs: number;
  private readonly nodes = new WeakMap<Redis, NodeState>();

  constructor(private readonly connection: Redis, options: ReplicaAckOptions) {
    this.replicas = options.replicas;
    this.timeoutMs = options.timeoutMs ?? 1000;
  }

  get enabled(): boolean {
    return this.replicas > 0;
  }

  /**
   * A token for a write of `key` that has just been answered: call it in the same tick as
   * the write's reply (before any I/O), then `confirm` it.
   */
  mark(key: string): { node: Redis | undefined; closes: number } {
    const node = slotNode(this.connection, key);
    return { node, closes: node ? this.state(node).closes : 0 };
  }

  /** Resolves once `replicas` replicas have every write the marked connection made before. */
  confirm(mark: { node: Redis | undefined; closes: number }): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    const { node } = mark;
    if (!node) return Promise.reject(new ReplicaAckError("the Cluster does not know the master of our slot right now", false));
    const state = this.state(node);
    return new Promise<void>((resolve, reject) => {
      state.next.push({ closes: mark.closes, resolve, reject });
      if (!state.inFlight) void this.round(node, state);
    });
  }

  private state(node: Redis): NodeState {
    let state = this.nodes.get(node);
    if (!state) {
      const created: NodeState = { closes: 0, inFlight: false, next: [] };
      node.on("close", () => created.closes++);
      this.nodes.set(node, created);
      state = created;
    }
    return state;
  }

  private async round(node: Redis, state: NodeState): Promise<void> {
    state.inFlight = true;
    while (state.next.length > 0) {
      const waiters = state.next;
      state.next = [];
      let acked: number | Error;
      try {
        acked = await withDeadline(node.call("WAIT", this.replicas, this.timeoutMs) as Promise<number>, this.timeoutMs + 1000);
      } catch (err) {
        acked = err as Error;
      }
      for (const waiter of waiters) {
        if (acked instanceof Error) waiter.reject(new ReplicaAckError(`WAIT failed: ${acked.message}`, false));
        else if (waiter.closes !== state.closes) waiter.reject(new ReplicaAckError("the connection to Redis was lost between the write and its WAIT", false));
        else if (acked < this.replicas) waiter.reject(new ReplicaAckError(`only ${acked} of ${this.replicas} replicas acknowledged the write within ${this.timeoutMs} ms`, true));
        else waiter.resolve();
      }
    }
    state.inFlight = false;
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]);
}
