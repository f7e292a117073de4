/**
 * The autosave controller against a real MapaGov server. The server's URL and two tokens come
 * from the environment: `MAPAGOV_URL` (the GraphQL endpoint), `MAPAGOV_TOKEN` (an author) and
 * `MAPAGOV_STAFF_TOKEN` (a second person who may edit the author's POPs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ApiError,
  AutosaveController,
  AutosaveDisposedError,
  CreatePopDocument,
  MapaGovClient,
  PopForEditingDocument,
  type AutosaveState,
  type PopStateFragment,
} from '../index.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/typescript_client.rs`);
  return value;
}

const url = env('MAPAGOV_URL');
const author = new MapaGovClient({ url, token: env('MAPAGOV_TOKEN') });
const staff = new MapaGovClient({ url, token: env('MAPAGOV_STAFF_TOKEN') });

/** Autosave requests seen by a `fetch` wrapper. */
interface Seen {
  keys: string[];
  inFlight: number;
  maxInFlight: number;
}

/** A client whose `fetch` counts the autosaves; `lose(n)` drops the answer of the n-th one (1-based). */
function counting(token: string, lose: Set<number> = new Set()): { client: MapaGovClient; seen: Seen } {
  const seen: Seen = { keys: [], inFlight: 0, maxInFlight: 0 };
  const wrapped: typeof fetch = async (input, init) => {
    const body = JSON.parse(String(init?.body ?? '{}')) as {
      query: string;
      variables?: { input?: { idempotencyKey?: string } };
    };
    const isAutosave = body.query.includes('autosavePop');
    if (!isAutosave) return fetch(input, init);
    seen.keys.push(body.variables?.input?.idempotencyKey ?? '');
    const n = seen.keys.length;
    seen.inFlight += 1;
    seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
    try {
      const response = await fetch(input, init);
      await response.clone().text();
      if (lose.has(n)) throw new TypeError('fetch failed: the connection was reset');
      return response;
    } finally {
      seen.inFlight -= 1;
    }
  };
  return { client: new MapaGovClient({ url, token, fetch: wrapped }), seen };
}

async function newPop(name: string): Promise<PopStateFragment> {
  const data = await author.request(CreatePopDocument, {
    input: { sessionId: `ts-${name}-${Date.now()}`, content: { nomeProcesso: name } },
  });
  return data.createPop.pop;
}

async function read(id: string): Promise<PopStateFragment> {
  const data = await author.request(PopForEditingDocument, { id });
  assert.ok(data.pop, `POP ${id} not found`);
  return data.pop;
}

test('edits typed in a burst become few saves, one at a time, and the last value wins', async () => {
  const pop = await newPop('burst');
  const { client, seen } = counting(env('MAPAGOV_TOKEN'));
  const states: AutosaveState[] = [];
  const controller = new AutosaveController({
    client,
    pop,
    debounceMs: 30,
    onState: (s) => states.push(s),
  });
  for (let i = 1; i <= 40; i += 1) {
    controller.update({ nomeProcesso: `burst ${i}` });
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 40));
  }
  await controller.flush();
  assert.equal(controller.state, 'saved');
  assert.equal(seen.maxInFlight, 1, 'never two saves in flight');
  assert.ok(seen.keys.length >= 1 && seen.keys.length <= 5, `${seen.keys.length} saves for 40 edits`);
  assert.equal(new Set(seen.keys).size, seen.keys.length, 'a fresh key per save');
  const stored = await read(pop.id);
  assert.equal(stored.nomeProcesso, 'burst 40');
  assert.equal(stored.autosaveSequence, pop.autosaveSequence + seen.keys.length);
  assert.equal(controller.pop.integrityHash, stored.integrityHash);
  assert.deepEqual(states.slice(-1), ['saved']);
});

test('a save whose answer is lost is retried with the same key and applied once', async () => {
  const pop = await newPop('lost answer');
  const { client, seen } = counting(env('MAPAGOV_TOKEN'), new Set([1]));
  const controller = new AutosaveController({ client, pop, debounceMs: 0, retryDelayMs: 20 });
  controller.update({ pontosAtencao: 'salvo uma vez' });
  await controller.flush();
  assert.equal(seen.keys.length, 2, 'the save and its retry');
  assert.equal(seen.keys[0], seen.keys[1], 'the retry reuses the key');
  const stored = await read(pop.id);
  assert.equal(stored.pontosAtencao, 'salvo uma vez');
  assert.equal(stored.autosaveSequence, pop.autosaveSequence + 1, 'applied once');
});

test('two people editing different fields both keep their work (merged)', async () => {
  const pop = await newPop('merge');
  const merged: string[][] = [];
  const mine = new AutosaveController({ client: author, pop, debounceMs: 0 });
  const theirs = new AutosaveController({
    client: staff,
    pop,
    debounceMs: 0,
    onSaved: (event) => merged.push(event.mergedPaths),
  });
  mine.update({ nomeProcesso: 'nome do autor' });
  await mine.flush();
  theirs.update({ pontosAtencao: 'nota do revisor' });
  await theirs.flush();
  const stored = await read(pop.id);
  assert.equal(stored.nomeProcesso, 'nome do autor');
  assert.equal(stored.pontosAtencao, 'nota do revisor');
  assert.deepEqual(merged, [['/pontos_atencao']]);
  assert.equal(theirs.pop.nomeProcesso, 'nome do autor', 'the merged POP comes back');
});

test('a real conflict stops saving, keeps the edit, and "mine" saves it over the latest', async () => {
  const pop = await newPop('conflict');
  let conflict: ApiError | null = null;
  const mine = new AutosaveController({ client: author, pop, debounceMs: 0 });
  const theirs = new AutosaveController({
    client: staff,
    pop,
    debounceMs: 0,
    onConflict: (error) => {
      conflict = error;
    },
  });
  mine.update({ nomeProcesso: 'do autor' });
  await mine.flush();
  theirs.update({ nomeProcesso: 'do revisor' });
  await assert.rejects(theirs.flush(), (error: unknown) => error instanceof ApiError && error.code === 'CONFLICT');
  assert.equal(theirs.state, 'conflict');
  assert.ok(conflict, 'onConflict was called');
  const conflicts = (conflict as ApiError).extensions.conflicts as { path: string }[];
  assert.deepEqual(conflicts.map((c) => c.path), ['/nome_processo']);
  assert.deepEqual(theirs.unsaved, { nomeProcesso: 'do revisor' }, 'the edit is kept');
  theirs.update({ pontosAtencao: 'digitado durante o conflito' });
  assert.equal((await read(pop.id)).nomeProcesso, 'do autor', 'nothing sent during the conflict');

  theirs.resolveConflict('mine', await read(pop.id));
  await theirs.flush();
  const stored = await read(pop.id);
  assert.equal(stored.nomeProcesso, 'do revisor');
  assert.equal(stored.pontosAtencao, 'digitado durante o conflito');
});

test('"theirs" keeps the server\'s value where they conflict and saves the other edits', async () => {
  const pop = await newPop('theirs');
  const mine = new AutosaveController({ client: author, pop, debounceMs: 0 });
  const theirs = new AutosaveController({ client: staff, pop, debounceMs: 0 });
  mine.update({ nomeProcesso: 'do autor' });
  await mine.flush();
  theirs.update({ nomeProcesso: 'do revisor', entregaEsperada: 'sem conflito' });
  await assert.rejects(theirs.flush());
  theirs.update({ pontosAtencao: 'digitado durante o conflito' });
  theirs.resolveConflict('theirs', await read(pop.id));
  await theirs.flush();
  const stored = await read(pop.id);
  assert.equal(stored.nomeProcesso, 'do autor');
  assert.equal(stored.entregaEsperada, 'sem conflito');
  assert.equal(stored.pontosAtencao, 'digitado durante o conflito');
});

test('a disposed controller sends nothing and its flush rejects', async () => {
  const pop = await newPop('disposed');
  const { client, seen } = counting(env('MAPAGOV_TOKEN'));
  const controller = new AutosaveController({ client, pop, debounceMs: 20 });
  controller.update({ pontosAtencao: 'nunca enviado' });
  const waiting = controller.flush();
  controller.dispose();
  await assert.rejects(waiting, AutosaveDisposedError);
  controller.update({ pontosAtencao: 'depois do fim' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(seen.keys.length, 0);
  assert.equal((await read(pop.id)).autosaveSequence, pop.autosaveSequence);
});

test('what is pending is sent once when the page goes away, however often it says so', async () => {
  const pop = await newPop('unload');
  const page = new EventTarget();
  const { client, seen } = counting(env('MAPAGOV_TOKEN'));
  const controller = new AutosaveController({ client, pop, debounceMs: 60_000 });
  const stop = controller.saveOnUnload(page);
  controller.update({ entregaEsperada: 'salvo ao sair' });
  page.dispatchEvent(new Event('pagehide'));
  page.dispatchEvent(new Event('pagehide'));
  stop();
  controller.dispose();
  for (let i = 0; i < 100 && seen.keys.length + seen.inFlight < 2; i += 1) {
    await new Promise((r) => setTimeout(r, 20));
  }
  while (seen.inFlight > 0) await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.keys.length, 2);
  assert.equal(seen.keys[0], seen.keys[1], 'one key for the same edits');
  const stored = await read(pop.id);
  assert.equal(stored.entregaEsperada, 'salvo ao sair');
  assert.equal(stored.autosaveSequence, pop.autosaveSequence + 1, 'applied once');
});

test('steps are written and read as types, with unknown keys kept in extra', async () => {
  const data = await author.request(CreatePopDocument, {
    input: {
      sessionId: `ts-typed-${Date.now()}`,
      content: { nomeProcesso: 'tipado' },
      typedContent: {
        etapas: [
          { numero: 1, descricao: 'Receber o pedido', detalhes: ['conferir'], extra: { cor: 'azul' } },
          {
            numero: 2,
            tipo: 'condicional',
            antesDecisao: 'Analisar',
            tipoCondicional: 'BINARIO',
            cenarios: [{ descricao: 'Sim', proximoPasso: '3' }, { descricao: 'Não', proximoPasso: '4' }],
          },
        ],
        fluxosEntrada: ['Protocolo'],
      },
    },
  });
  const { etapas, fluxosEntrada } = data.createPop.pop.content;
  assert.deepEqual(fluxosEntrada, ['Protocolo']);
  assert.equal(etapas.length, 2);
  const [first, decision] = etapas;
  assert.ok(first && decision);
  assert.equal(first.descricao, 'Receber o pedido');
  assert.deepEqual(first.detalhes, ['conferir']);
  assert.deepEqual(first.extra, { cor: 'azul' });
  assert.ok(first.id, 'the server gave the step an id');
  assert.equal(decision.tipoCondicional, 'BINARIO');
  assert.deepEqual(decision.cenarios?.map((c) => c.proximoPasso), ['3', '4']);
});
