// `npm run generate` (first half): writes the serverless files derived from the operation table.
import { writeFileSync } from 'node:fs';
import { renderFunctionsYaml } from './functions.ts';
import { renderPrincipalsYaml, renderResourcesYaml } from './resources.ts';

for (const [file, text] of [
  ['./functions.yml', renderFunctionsYaml()],
  ['./resources.yml', renderResourcesYaml()],
  ['./principals.yml', renderPrincipalsYaml()],
] as const) {
  const target = new URL(file, import.meta.url);
  writeFileSync(target, text);
  process.stderr.write(`wrote ${target.pathname}\n`);
}
