// GraphQL over HTTP, checked from Node against a running MapaGov server.
//
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
//
// 1. Runs every audit of the `graphql-http` package (`serverAudits`): each MUST has to pass, and
//    each SHOULD has to pass unless it is listed in WAIVED_SHOULDS (which the README repeats with
//    the reason).
// 2. Runs a query through `@urql/core` with its defaults (queries by GET within the URL length
//    limit) and a query by POST the way graphql-request and Apollo Client send it.
//
// Prints one line per check and exits 1 if any fails.
import { serverAudits } from 'graphql-http';
import { Client, fetchExchange, gql } from '@urql/core';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql endpoint URL>');
  process.exit(2);
}

/** SHOULDs this server does not follow, with the reason (keep in step with the README). */
const WAIVED_SHOULDS = new Map([]);

let failed = 0;
const report = (ok, line) => {
  if (!ok) failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${line}`);
};

for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const waived = WAIVED_SHOULDS.get(audit.id);
  const ok = result.status === 'ok' || audit.name.startsWith('MAY') || Boolean(waived);
  const detail =
    result.status === 'ok'
      ? ''
      : ` (${result.status}: ${result.reason}${waived ? `; waived: ${waived}` : ''})`;
  report(ok, `${audit.id} ${audit.name}${detail}`);
}

// urql with its defaults, and with queries by GET (`preferGetMethod`, the default of some
// versions and a common choice for HTTP caching).
const client = new Client({ url, exchanges: [fetchExchange] });
const byGet = new Client({ url, exchanges: [fetchExchange], preferGetMethod: 'within-url-limit' });
for (const [name, c] of [['defaults', client], ['preferGetMethod (GET)', byGet]]) {
  const urql = await c.query(gql`query Urql { __typename }`, {}).toPromise();
  report(
    !urql.error && urql.data?.__typename === 'Query',
    `urql ${name} runs a query${urql.error ? ` (${urql.error.message})` : ''}`,
  );
}
const urqlMutation = await byGet
  .mutation(gql`mutation UrqlLogin { login(username: "nobody", password: "wrong") { token } }`, {})
  .toPromise();
report(
  urqlMutation.error?.graphQLErrors?.[0]?.extensions?.code === 'BAD_USER_INPUT',
  `urql sends a mutation by POST${urqlMutation.error ? '' : ' (no error?)'}`,
);

// graphql-request and Apollo Client: POST, JSON body, both JSON types accepted.
const posted = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json, application/json',
  },
  body: JSON.stringify({ query: 'query Posted { __typename }', operationName: 'Posted' }),
});
const postedBody = await posted.json();
report(
  posted.status === 200 &&
    posted.headers.get('content-type')?.startsWith('application/graphql-response+json') &&
    postedBody.data?.__typename === 'Query',
  `POST as graphql-request and Apollo Client send it (${posted.status})`,
);

const total = serverAudits({ url }).length + 4;
console.log(`summary: ${total - failed} of ${total} checks passed`);
process.exit(failed === 0 ? 0 : 1);
