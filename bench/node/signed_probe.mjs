// Writes the body table of a wrk probe that sends signed transfers (SPEC §8): COUNT
// requests to POST /api/verify, each `intent transfer { from: FROM, to: TO, amount: 1,
// nonce: N, signature: "..." }` with consecutive nonces from FIRST_NONCE, signed with
// the account key file KEY (from `aethel account new`) for the lattice LATTICE_ID. A
// probe that sends them in order, one at a time, commits each (its nonce is next).
//   node bench/node/signed_probe.mjs KEY LATTICE_ID FROM TO FIRST_NONCE COUNT > bodies.lua
import fs from 'node:fs';
import { Ed25519Signer, signTransaction } from '../../clients/typescript/dist/index.js';

const [keyFile, latticeId, from, to, first, count] = process.argv.slice(2);
if (!count) {
  console.error('usage: node signed_probe.mjs KEY LATTICE_ID FROM TO FIRST_NONCE COUNT');
  process.exit(2);
}
const signer = await Ed25519Signer.fromJwk(fs.readFileSync(keyFile, 'utf8'));
const lines = ['bodies = {'];
for (let i = 0; i < Number(count); i += 1) {
  const nonce = Number(first) + i;
  const { signature } = await signTransaction(signer, latticeId, { from, to, amount: 1, nonce });
  const code = `intent transfer { from: ${from}, to: ${to}, amount: 1, nonce: ${nonce}, signature: "${signature}" }`;
  lines.push(`  [[${JSON.stringify({ code })}]],`);  // a Lua long string: no escapes
}
lines.push('}');
process.stdout.write(`${lines.join('\n')}\n`);
