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

/** `crypto.randomUUID`, which browsers offer only on HTTPS and localhost. */
function defaultKeys(): () => string {
  const webCrypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (!webCrypto?.randomUUID) {
    throw new Error('no crypto.randomUUID here (a page over plain HTTP?): pass `newKey`');
  }
  return () => webCrypto.randomUUID!();
}

/** The document key (the first segment of a conflict's JSON Pointer) of each content input field. */
const DOCUMENT_KEYS: Record<string, string> = {
  nomeUsuario: 'nome_usuario',
  area: 'area',
  macroprocesso: 'macroprocesso',
  codigoProcesso: 'codigo_processo',
  nomeProcesso: 'nome_processo',
  processoEspecifico: 'processo_especifico',
  entregaEsperada: 'entrega_esperada',
  dispositivosNormativos: 'dispositivos_normativos',
  sistemas: 'sistemas',
  operadores: 'operadores',
  pontosAtencao: 'pontos_atencao',
  etapas: 'etapas',
  documentosUtilizados: 'documentos_utilizados',
  fluxosEntrada: 'fluxos_entrada',
  fluxosSaida: 'fluxos_saida',
};

/** A disposed controller's answer to `flush()` and to a save it abandons. */
export class AutosaveDisposedError extends Error {
  constructor() {
    super('the autosave controller was disposed');
    this.name = 'AutosaveDisposedError';
  }
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
  private readonly newKey: () => string;
  private disposed = false;
  /** The key of the last save sent at page exit, and what it carried. */
  private unloadSent: { changes: string; key: string } | null = null;
  private lastConflict: ApiError | null = null;

  constructor(options: AutosaveOptions) {
    this.options = options;
    this.current = options.pop;
    this.newKey = options.newKey ?? defaultKeys();
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
    if (this.disposed) return;
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
    if (this.disposed) return Promise.reject(new AutosaveDisposedError());
    if (this.stateNow === 'conflict' || this.stateNow === 'failed') {
      return Promise.reject(this.lastError);
    }
    if (!this.flight && Object.keys(this.pending).length === 0) return Promise.resolve();
    const idle = new Promise<void>((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
    this.schedule(0);
    return idle;
  }

  /**
   * Ends a conflict. `latest` is the POP as the server has it now (refetch it, e.g. with
   * `PopForEditingDocument`). `'mine'`: the pending edits are saved over it. `'theirs'`: the
   * pending edits of the fields in conflict are dropped (the server's values stay) and the
   * others are saved over it. Does nothing unless the state is `conflict`.
   */
  resolveConflict(choice: 'mine' | 'theirs', latest: PopStateFragment): void {
    if (this.stateNow !== 'conflict') return;
    this.current = latest;
    if (choice === 'theirs') {
      const conflicts = (this.lastConflict?.extensions.conflicts ?? []) as { path?: string }[];
      const keys = new Set(conflicts.map((c) => (c.path ?? '').split('/')[1] ?? ''));
      const kept: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(this.pending)) {
        if (!keys.has(DOCUMENT_KEYS[field] ?? field)) kept[field] = value;
      }
      this.pending = kept as Changes;
    }
    this.lastError = null;
    this.lastConflict = null;
    if (Object.keys(this.pending).length) {
      this.setState('pending');
      this.schedule(0);
    } else {
      this.setState('saved');
      this.settle();
    }
  }

  /**
   * Stops the controller (e.g. when the editor closes the POP): no save is started or retried
   * after this, and a `flush()` still waiting rejects with `AutosaveDisposedError`. Edits not
   * yet acknowledged stay in `unsaved`; call `flush()` first to save them.
   */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastError = new AutosaveDisposedError();
    this.settle();
  }

  /** After a failure, tries the pending edits again. */
  retry(): void {
    if (this.stateNow !== 'failed') return;
    this.lastError = null;
    this.setState('pending');
    this.schedule(0);
  }

  /**
   * Saves when the page is hidden (`visibilitychange`: the user may not come back), and sends
   * what is not yet acknowledged when the page is closed (`pagehide`), as a `fetch` the browser
   * finishes after the page is gone. Returns a function that removes the listeners.
   */
  saveOnUnload(target: EventTarget = globalThis as unknown as EventTarget): () => void {
    const doc = (globalThis as { document?: { visibilityState?: string } }).document;
    const onVisibility = () => {
      if (doc?.visibilityState === 'hidden') this.flush().catch(() => undefined);
    };
    const onPageHide = () => this.sendBeforeUnload();
    target.addEventListener('pagehide', onPageHide);
    target.addEventListener('visibilitychange', onVisibility);
    return () => {
      target.removeEventListener('pagehide', onPageHide);
      target.removeEventListener('visibilitychange', onVisibility);
    };
  }

  /**
   * One last save of everything not acknowledged, with `keepalive`: the in-flight save's edits
   * and the pending ones together, on the in-flight save's base. If the in-flight save commits
   * too, the server merges the two (equal changes are not a conflict). Sent again with the same
   * edits, it reuses its idempotency key, so the server applies it once. Browsers refuse a
   * keepalive body over 64 KiB: a bigger one goes as a plain request, which the browser may
   * cancel as the page closes (the edits typed since the last acknowledged save are then lost).
   */
  sendBeforeUnload(): void {
    const changes = this.unsaved;
    if (this.disposed || Object.keys(changes).length === 0 || this.stateNow === 'conflict') return;
    const base = this.flight ?? {
      expectedHash: this.current.integrityHash,
      baseSequence: this.current.autosaveSequence,
    };
    const fingerprint = JSON.stringify([base.expectedHash, changes]);
    if (this.unloadSent?.changes !== fingerprint) {
      this.unloadSent = { changes: fingerprint, key: this.newKey() };
    }
    const keepalive = fingerprint.length < 60_000;
    void this.options.client
      .request(
        AutosavePopDocument,
        {
          input: {
            popId: this.current.id,
            sessionId: this.sessionId,
            expectedHash: base.expectedHash,
            baseSequence: base.baseSequence,
            idempotencyKey: this.unloadSent.key,
            content: changes,
          },
        },
        { keepalive },
      )
      // The page is going away: there is nobody left to tell.
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
    if (this.disposed) return;
    if (this.flight || this.stateNow === 'conflict' || this.stateNow === 'failed') return;
    if (Object.keys(this.pending).length === 0) {
      this.setState('saved');
      this.settle();
      return;
    }
    const flight: Flight = {
      changes: this.pending,
      key: this.newKey(),
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
      if (this.disposed) return;
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
    if (outcome.error instanceof AutosaveDisposedError) return;
    this.lastError = outcome.error;
    if (outcome.error instanceof ApiError && outcome.error.code === 'CONFLICT') {
      this.lastConflict = outcome.error;
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
        if (this.disposed) return { ok: false, error: new AutosaveDisposedError() };
        this.setState('retrying');
        await sleep(delay);
        if (this.disposed) return { ok: false, error: new AutosaveDisposedError() };
        delay = Math.min(delay * 2, maxDelay);
        this.setState('saving');
      }
    }
  }
}
