/**
 * A small typed GraphQL-over-HTTP client for MapaGov: sends a generated document with its
 * variables and returns its typed `data`, or throws an error that says whether a retry may help.
 */
import type { TypedDocumentString } from './generated/graphql.js';

/** One GraphQL error as the server sends it. */
export interface GraphQLErrorBody {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

/**
 * The server answered with errors. `code` is the first error's `extensions.code` (stable: see
 * the README's list), `extensions` its other details (`currentHash`, `conflicts`…).
 */
export class ApiError extends Error {
  readonly code: string;
  readonly extensions: Record<string, unknown>;
  readonly errors: GraphQLErrorBody[];
  readonly status: number;

  constructor(errors: GraphQLErrorBody[], status: number) {
    const first = errors[0];
    super(first?.message ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.errors = errors;
    this.status = status;
    this.code = first?.extensions?.code ?? codeOfStatus(status);
    this.extensions = { ...(first?.extensions ?? {}) };
  }
}

/** The code of an answer without GraphQL errors, from its HTTP status. */
function codeOfStatus(status: number): string {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 413) return 'DOCUMENT_TOO_LARGE';
  if (status === 429) return 'TOO_MANY_REQUESTS';
  if (status >= 502 && status <= 504) return 'SERVICE_UNAVAILABLE';
  return `HTTP_${status}`;
}

/** The request did not get an answer (network down, connection reset, aborted). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super(`no answer from the server: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'NetworkError';
    this.cause = cause;
  }
}

/** Codes after which the same request may succeed later, unchanged. */
const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'TIMEOUT', 'TOO_MANY_REQUESTS', 'STORAGE_FULL']);

/** Whether sending the same request again (with the same idempotency key) may succeed. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  return error instanceof ApiError && RETRYABLE.has(error.code);
}

/** How to reach the API. */
export interface ClientOptions {
  /** The GraphQL endpoint, e.g. `https://mapagov.example.gov.br/graphql`. */
  url: string;
  /** The API token, sent as `Authorization: Bearer <token>`; a function is asked on each request. */
  token?: string | (() => string | undefined);
  /** The `fetch` to use (the global one by default). */
  fetch?: typeof fetch;
}

/** Extra options of one request. */
export interface RequestOptions {
  /** Ask the browser to finish the request even if the page is being closed (`fetch` keepalive). */
  keepalive?: boolean;
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** Sends typed GraphQL documents to MapaGov. */
export class MapaGovClient {
  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
  }

  /** Runs `document` with `variables`; resolves to its `data`, or throws `ApiError` / `NetworkError`. */
  async request<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    options: RequestOptions = {},
  ): Promise<TResult> {
    const token = typeof this.options.token === 'function' ? this.options.token() : this.options.token;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    };
    if (token) headers.authorization = `Bearer ${token}`;
    const doFetch = this.options.fetch ?? fetch;
    let response: Response;
    try {
      response = await doFetch(this.options.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ query: document.toString(), variables }),
        keepalive: options.keepalive,
        signal: options.signal,
      });
    } catch (cause) {
      throw new NetworkError(cause);
    }
    let body: { data?: TResult | null; errors?: GraphQLErrorBody[] };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      // An answer that is not GraphQL (a proxy's error page): its status says what it was.
      throw new ApiError([], response.status);
    }
    if (body.errors && body.errors.length > 0) throw new ApiError(body.errors, response.status);
    if (body.data == null) throw new ApiError([], response.status);
    return body.data;
  }
}
