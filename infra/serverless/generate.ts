// `npm run generate`: writes the files derived from the operation table.
import { writeFileSync } from 'node:fs';
import { renderFunctionsYaml } from './functions.ts';

const target = new URL('./functions.yml', import.meta.url);
writeFileSync(target, renderFunctionsYaml());
process.stderr.write(`wrote ${target.pathname}\n`);
