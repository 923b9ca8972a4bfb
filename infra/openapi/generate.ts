// `npm run generate:openapi`: writes the OpenAPI document derived from the operation table.
import { writeFileSync } from 'node:fs';
import { renderOpenApiJson } from './document.ts';

const target = new URL('./openapi.json', import.meta.url);
writeFileSync(target, renderOpenApiJson());
process.stderr.write(`wrote ${target.pathname}\n`);
