/**
 * The autosave controller a POP editor can adopt: it debounces edits, keeps one save in flight,
 * retries a save that got no answer with the same idempotency key (so a save is never applied
 * twice nor lost), tracks `expectedHash` and `baseSequence` so a stale save is merged by the
 * server instead of refused, stops on a real conflict until the editor decides, and sends what
 * is pending when the page goes away.
 *
 * Nothing typed is ever dropped by the controller: edits not yet acknowledged stay pending
 * through retries, conflicts and failures, until a save acknowledges them or the editor
 * chooses the server's version (`resolveConflict('theirs', …)`).
 */
import { ApiError, MapaGovClient, isRetryable } from './client.js';
import {
  AutosavePopDocument,
  type AutosavePopMutation,
  type PopContentInput,
  type PopStateFragment,
} from './generated/graphql.js';

/** What the controller is doing. */
export type AutosaveState =
  /** Everything typed is saved. */
  | 'saved'
  /** Edits wait for the debounce. */
  | 'pending'
  /** A save is in flight. */
  | 'saving'
  /** A save got no answer or a retryable error; it is sent again, unchanged, after a delay. */
  | 'retrying'
  /** The server refused a save (`CONFLICT`): nothing is sent until `resolveConflict`. */
  | 'conflict'
  /** The server refused a save for another reason (see `onError`); `retry()` tries again. */
  | 'failed';

/** What a successful save reports. */
export interface SavedEvent {
  /** The POP after the save: with other people's changes when the save was merged. */
  pop: PopStateFragment;
  /** Where this save was merged into a newer version (JSON Pointers); empty when it was not stale. */
  mergedPaths: string[];
  /** Whether the save changed anything. */
  changed: boolean;
}

/** Options of an `AutosaveController`. */
export interface AutosaveOptions {
  /** The API client. */
  client: MapaGovClient;
  /** The POP being edited, as last read from the server. */
  pop: PopStateFragment;
  /** The editor's session id sent with each save (default: the POP's `sessionId`). */
  sessionId?: string;
  /** Quiet time after the last edit before saving, in ms (default 1500). */
  debounceMs?: number;
  /** First delay before retrying a save, in ms; doubled on each retry (default 250). */
  retryDelayMs?: number;
  /** Longest delay between retries, in ms (default 10000). */
  maxRetryDelayMs?: number;
  /** Makes an idempotency key (default `crypto.randomUUID()`). */
  newKey?: () => string;
  /** Called when the state changes. */
  onState?: (state: AutosaveState) => void;
  /** Called after each acknowledged save. */
  onSaved?: (event: SavedEvent) => void;
  /** Called when a save is refused with `CONFLICT` (`error.extensions.conflicts` says where). */
  onConflict?: (error: ApiError) => void;
  /** Called when a save fails for good (not retryable, not a conflict). */
  onError?: (error: unknown) => void;
}

type Changes = PopContentInput;

/** A save being sent: the same input and key on every retry. */
interface Flight {
  changes: Changes;
  key: string;
  expectedHash: string;
  baseSequence: number;
}

function defaultKey(): string {
  const webCrypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (webCrypto?.randomUUID) return webCrypto.randomUUID();
  throw new Error('no crypto.randomUUID here: pass `newKey` to the AutosaveController');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Saves a POP's edits as the user types. */
export class AutosaveController {
  private readonly options: AutosaveOptions;
  private current: PopStateFragment;
  private pending: Changes = {};
  private flight: Flight | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stateNow: AutosaveState = 'saved';
  private idleWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private lastError: unknown = null;

  private readonly sessionId: string;

  constructor(options: AutosaveOptions) {
    this.options = options;
    this.current = options.pop;
    const sessionId = options.sessionId ?? options.pop.sessionId;
    if (!sessionId) throw new Error('the POP has no sessionId: pass `sessionId`');
    this.sessionId = sessionId;
  }

  /** The POP as the server last acknowledged it. */
  get pop(): PopStateFragment {
    return this.current;
  }

  /** What the controller is doing now. */
  get state(): AutosaveState {
    return this.stateNow;
  }

  /** Edits not yet acknowledged by the server (in flight or waiting). */
  get unsaved(): Changes {
    return { ...(this.flight?.changes ?? {}), ...this.pending };
  }

  /** Records edits (later values of a field replace earlier ones) and schedules a save. */
  update(changes: Changes): void {
    this.pending = { ...this.pending, ...changes };
    if (this.stateNow === 'conflict' || this.stateNow === 'failed') return;
    if (!this.flight) this.setState('pending');
    this.schedule(this.options.debounceMs ?? 1500);
  }

  /**
   * Saves what is pending now, without waiting for the debounce; resolves when everything typed
   * so far is acknowledged, rejects on a conflict or a failure.
   */
  flush(): Promise<void> {
    if (this.stateNow === 'conflict' || this.stateNow === 'failed') {
      return Promise.reject(this.lastError);
    }
    if (!this.flight && Object.keys(this.pending).length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
    this.schedule(0);
    return idle;
  }

  /**
   * Ends a conflict. `'mine'`: the pending edits are saved over `latest` (the POP as the server
   * has it now, e.g. from `extensions` or a refetch). `'theirs'`: the pending edits are dropped
   * and `latest` is kept.
   */
  resolveConflict(choice: 'mine' | 'theirs', latest: PopStateFragment): void {
    this.current = latest;
    if (choice === 'theirs') this.pending = {};
    this.lastError = null;
    this.setState(Object.keys(this.pending).length ? 'pending' : 'saved');
    if (Object.keys(this.pending).length) this.schedule(0);
    else this.settle();
  }

  /**
   * Stops the controller's timer (e.g. when the editor closes the POP): nothing more is sent;
   * edits not yet acknowledged stay in `unsaved`. Call `flush()` first to save them.
   */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** After a failure, tries the pending edits again. */
  retry(): void {
    if (this.stateNow !== 'failed') return;
    this.lastError = null;
    this.setState('pending');
    this.schedule(0);
  }

  /**
   * Sends what is not yet acknowledged when the page is hidden or closed (`pagehide`,
   * `visibilitychange` to hidden), as a `fetch` the browser finishes after the page is gone.
   * Returns a function that removes the listeners.
   */
  saveOnUnload(target: EventTarget = globalThis as unknown as EventTarget): () => void {
    const doc = (globalThis as { document?: { visibilityState?: string } }).document;
    const onHide = () => {
      if (doc && doc.visibilityState !== undefined && doc.visibilityState !== 'hidden') return;
      this.sendBeforeUnload();
    };
    const onPageHide = () => this.sendBeforeUnload();
    target.addEventListener('pagehide', onPageHide);
    target.addEventListener('visibilitychange', onHide);
    return () => {
      target.removeEventListener('pagehide', onPageHide);
      target.removeEventListener('visibilitychange', onHide);
    };
  }

  /**
   * One last save of everything not acknowledged, with `keepalive`: the in-flight save's edits
   * and the pending ones together, on the in-flight save's base. If the in-flight save commits
   * too, the server merges the two (equal changes are not a conflict).
   */
  sendBeforeUnload(): void {
    const changes = this.unsaved;
    if (Object.keys(changes).length === 0 || this.stateNow === 'conflict') return;
    const base = this.flight ?? {
      expectedHash: this.current.integrityHash,
      baseSequence: this.current.autosaveSequence,
    };
    void this.options.client
      .request(
        AutosavePopDocument,
        {
          input: {
            popId: this.current.id,
            sessionId: this.sessionId,
            expectedHash: base.expectedHash,
            baseSequence: base.baseSequence,
            idempotencyKey: (this.options.newKey ?? defaultKey)(),
            content: changes,
          },
        },
        { keepalive: true },
      )
      .catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.saveNext();
    }, ms);
  }

  private setState(state: AutosaveState): void {
    if (state === this.stateNow) return;
    this.stateNow = state;
    this.options.onState?.(state);
  }

  private settle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) {
      if (this.lastError) waiter.reject(this.lastError);
      else waiter.resolve();
    }
  }

  /** Sends the pending edits as one save, unless a save is in flight (it sends them after). */
  private async saveNext(): Promise<void> {
    if (this.flight || this.stateNow === 'conflict' || this.stateNow === 'failed') return;
    if (Object.keys(this.pending).length === 0) {
      this.setState('saved');
      this.settle();
      return;
    }
    const flight: Flight = {
      changes: this.pending,
      key: (this.options.newKey ?? defaultKey)(),
      expectedHash: this.current.integrityHash,
      baseSequence: this.current.autosaveSequence,
    };
    this.pending = {};
    this.flight = flight;
    this.setState('saving');
    const outcome = await this.send(flight);
    this.flight = null;
    if (outcome.ok) {
      const saved = outcome.data.autosavePop;
      this.current = saved.pop;
      this.options.onSaved?.({
        pop: saved.pop,
        mergedPaths: saved.mergedPaths,
        changed: saved.changed,
      });
      if (Object.keys(this.pending).length) {
        this.setState('pending');
        void this.saveNext();
      } else {
        this.setState('saved');
        this.settle();
      }
      return;
    }
    // Refused: the edits go back in front of anything typed since.
    this.pending = { ...flight.changes, ...this.pending };
    this.lastError = outcome.error;
    if (outcome.error instanceof ApiError && outcome.error.code === 'CONFLICT') {
      this.setState('conflict');
      this.options.onConflict?.(outcome.error);
    } else {
      this.setState('failed');
      this.options.onError?.(outcome.error);
    }
    this.settle();
  }

  /** Sends one save until it gets an answer that is not worth retrying. */
  private async send(
    flight: Flight,
  ): Promise<{ ok: true; data: AutosavePopMutation } | { ok: false; error: unknown }> {
    let delay = this.options.retryDelayMs ?? 250;
    const maxDelay = this.options.maxRetryDelayMs ?? 10_000;
    for (;;) {
      try {
        const data = await this.options.client.request(AutosavePopDocument, {
          input: {
            popId: this.current.id,
            sessionId: this.sessionId,
            expectedHash: flight.expectedHash,
            baseSequence: flight.baseSequence,
            idempotencyKey: flight.key,
            content: flight.changes,
          },
        });
        return { ok: true, data };
      } catch (error) {
        if (!isRetryable(error)) return { ok: false, error };
        this.setState('retrying');
        await sleep(delay);
        delay = Math.min(delay * 2, maxDelay);
        this.setState('saving');
      }
    }
  }
}
