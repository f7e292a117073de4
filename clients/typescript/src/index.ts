/**
 * MapaGov's reference TypeScript client: the API's types generated from `schema.graphql`, a
 * typed request function, and the autosave controller for POP editors.
 */
export { ApiError, MapaGovClient, NetworkError, isRetryable } from './client.js';
export type { ClientOptions, GraphQLErrorBody, RequestOptions } from './client.js';
export { AutosaveController, AutosaveDisposedError } from './autosave.js';
export type { AutosaveOptions, AutosaveState, SavedEvent } from './autosave.js';
export * from './generated/graphql.js';
export type { JsonValue } from './json.js';
