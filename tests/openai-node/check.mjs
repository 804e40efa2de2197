// The official openai npm SDK against the gateway's OpenAI-compatible API: streams a completion and a chat completion,
// reads usage, and checks the streamed completion against gRPC Generate (same prompt, same seed) and the error paths.
// Needs a running cluster, e.g. `./run.sh demo --serve` (HTTP 8080, gRPC 50051, API key alisa-demo-key).
// Environment: ALISA_OPENAI_URL, ALISA_GRPC_ADDRESS, ALISA_API_KEY. scripts/openai-node-check.sh serves and runs it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import OpenAI from 'openai';

if (process.argv.includes('--help') || process.argv.includes('-h')) { // the header above
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(lines.slice(0, lines.findIndex(l => !l.startsWith('//'))).map(l => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

const baseURL = process.env.ALISA_OPENAI_URL ?? 'http://127.0.0.1:8080/v1';
const grpcAddress = process.env.ALISA_GRPC_ADDRESS ?? '127.0.0.1:50051';
const apiKey = process.env.ALISA_API_KEY ?? 'alisa-demo-key';
const here = path.dirname(fileURLToPath(import.meta.url));
const client = new OpenAI({ apiKey, baseURL, maxRetries: 0 });
const prompt = 'And it came to pass, when the king heard';

async function grpcGenerate(request) {
  const definition = protoLoader.loadSync(path.join(here, '..', '..', 'protos', 'alisa.proto'), { keepCase: true, longs: Number, defaults: true, oneofs: true });
  const { Generation } = grpc.loadPackageDefinition(definition).alisa.v1;
  const generation = new Generation(grpcAddress, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${apiKey}`);
  let text = '';
  let complete;
  for await (const response of generation.Generate(request, metadata)) {
    if (response.chunk) text += response.chunk.text;
    else complete = response.complete;
  }
  generation.close();
  return { text, complete };
}

async function streamedText(stream, field) {
  let text = '';
  let usage;
  let finish;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      text += field(choice) ?? '';
      finish ??= choice.finish_reason ?? undefined;
    }
    usage ??= chunk.usage ?? undefined;
  }
  return { text, usage, finish };
}

const models = await client.models.list();
const model = models.data[0].id;
console.log(`model ${model} at ${baseURL}`);

// a completion, streamed with usage, equals gRPC Generate for the same seed
const sampling = { max_tokens: 40, temperature: 0.8, top_p: 0.95, seed: 42 };
const completion = await streamedText(
  await client.completions.create({ model, prompt, ...sampling, stream: true, stream_options: { include_usage: true } }),
  choice => choice.text);
const viaGrpc = await grpcGenerate({ text: prompt, sampling_params: { temperature: 0.8, top_p: 0.95, seed: 42, max_tokens: 40 } });
assert.equal(completion.text, viaGrpc.text, 'the streamed completion differs from the gRPC stream');
assert.equal(completion.usage.prompt_tokens, viaGrpc.complete.usage.prompt_tokens);
assert.equal(completion.usage.completion_tokens, viaGrpc.complete.usage.completion_tokens);
assert.equal(completion.usage.total_tokens, viaGrpc.complete.usage.total_tokens);
console.log(`completion: ${completion.usage.completion_tokens} tokens, finish ${completion.finish}, equal to gRPC`);

// a chat completion, streamed with usage, equals the same request unstreamed
const messages = [{ role: 'system', content: 'You are a storyteller.' }, { role: 'user', content: 'Tell me about the king.' }];
const chat = await streamedText(
  await client.chat.completions.create({ model, messages, ...sampling, stream: true, stream_options: { include_usage: true } }),
  choice => choice.delta?.content);
const whole = await client.chat.completions.create({ model, messages, ...sampling });
assert.equal(chat.text, whole.choices[0].message.content);
assert.equal(chat.finish, whole.choices[0].finish_reason);
const { prompt_tokens_details: streamedDetails, ...streamedCounts } = chat.usage;
const { prompt_tokens_details: repeatedDetails, ...repeatedCounts } = whole.usage;
assert.deepEqual(streamedCounts, repeatedCounts);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);
// the repeated prompt's whole 16-token blocks come from the prefix cache (the last prompt token is always computed)
assert.equal(repeatedDetails.cached_tokens, Math.floor((whole.usage.prompt_tokens - 1) / 16) * 16);
assert.ok(streamedDetails.cached_tokens <= repeatedDetails.cached_tokens);
console.log(`chat: ${chat.usage.completion_tokens} tokens, finish ${chat.finish}, streamed equals unstreamed, ` +
  `${repeatedDetails.cached_tokens} of ${whole.usage.prompt_tokens} prompt tokens cached on the repeat`);

// errors come as the SDK's typed errors
await assert.rejects(client.completions.create({ model: 'gpt-4o', prompt }), e => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
await assert.rejects(client.completions.create({ model, prompt, temperature: -1 }), e => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
await assert.rejects(new OpenAI({ apiKey: 'wrong-key', baseURL, maxRetries: 0 }).models.list(), e => e instanceof OpenAI.AuthenticationError);
console.log('errors: 404 unknown model, 400 naming the field, 401 bad key');
console.log('openai-node check passed');
