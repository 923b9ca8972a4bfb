'use strict';
/**
 * Local serverless plugin (osls 3, Serverless Framework v4): keeps the stack inside CloudFormation's limits by
 * moving each function with its log group, permissions, API method and alarms into one of 8 nested stacks
 * (infra/serverless/nesting.ts says what moves and why; this file only wires it into serverless).
 *
 *   - package (after the custom resources are merged and api-stage-plugin has wired the stage): splits the
 *     compiled template; the root replaces it, the nested templates are written beside it as
 *     cloudformation-template-nested-functions-<n>.json;
 *   - deploy (after serverless uploaded the zips and the root template): uploads the nested templates into the
 *     same artifact directory of the deployment bucket, where the root's TemplateURLs point.
 *
 * Function groups come from the generated access model (access.ts, same names as functions.yml), so a function
 * never changes stacks unless it is renamed. Nested templates are loaded with Node's TypeScript support
 * (require of .ts, Node ≥ 22.12 with type stripping), like the rest of the repo's tooling.
 */
const { readFileSync, readdirSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const NESTED_FILE = /^cloudformation-template-nested-functions-\d+\.json$/;

class NestedStacksPlugin {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options || {};
    this.provider = serverless.getProvider('aws');
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.split(),
      'after:aws:deploy:deploy:uploadArtifacts': () => this.upload(),
    };
  }

  /**
   * Where serverless keeps the package while it works: always <service>/.serverless (with `--package <dir>`
   * it moves everything there at the end of `package`, and copies it back before `deploy`).
   */
  packageDir() {
    return path.join(this.serverless.serviceDir || process.cwd(), '.serverless');
  }

  split() {
    const nesting = require('./nesting.ts');
    const { functionAccess, logicalIds } = require('./access.ts');
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const groupOfFunction = new Map();
    const functionOfLogGroup = new Map();
    for (const fn of functionAccess()) {
      const ids = logicalIds(fn);
      groupOfFunction.set(ids.function, nesting.stackGroupOf(fn.name));
      functionOfLogGroup.set(ids.logGroup, ids.function);
    }
    // The nested templates go where serverless puts the zips: the artifact directory of a function's code.
    const code = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function')?.Properties?.Code;
    if (!code || typeof code.S3Key !== 'string') throw new Error('nested-stacks-plugin: no function code location in the template');
    const dir = path.posix.dirname(code.S3Key);
    const templateUrl = (file) => ({
      'Fn::Join': ['', ['https://s3.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }, '/', code.S3Bucket, `/${dir}/${file}`]],
    });
    const { root, nested } = nesting.splitIntoNestedStacks(template, { groupOfFunction, functionOfLogGroup, templateUrl });
    for (const key of Object.keys(template)) delete template[key];
    Object.assign(template, root);
    const out = this.packageDir();
    require('node:fs').mkdirSync(out, { recursive: true });
    for (const n of nested) writeFileSync(path.join(out, n.file), `${JSON.stringify(n.template, null, 2)}\n`);
    const counts = nesting.resourceCounts(root, nested).map((c) => `${c.template === 'root' ? 'root' : c.template.replace(/^cloudformation-template-nested-|\.json$/g, '')} ${c.resources}`);
    this.serverless.cli.log(`nested-stacks-plugin: resources per template: ${counts.join(', ')} (nested templates in ${out})`);
  }

  async upload() {
    // serverless found nothing changed since the last deployment: it uploads nothing and updates nothing.
    if (this.serverless.service.provider.shouldNotDeploy) return;
    const dir = this.packageDir();
    const files = readdirSync(dir).filter((f) => NESTED_FILE.test(f));
    const prefix = this.serverless.service.package.artifactDirectoryName;
    if (!prefix) throw new Error('nested-stacks-plugin: no artifact directory name');
    const bucket = await this.provider.getServerlessDeploymentBucketName();
    for (const file of files) {
      await this.provider.request('S3', 'putObject', {
        Bucket: bucket,
        Key: `${prefix}/${file}`,
        Body: readFileSync(path.join(dir, file)),
        ContentType: 'application/json',
        ServerSideEncryption: 'AES256',
      });
    }
    this.serverless.cli.log(`nested-stacks-plugin: uploaded ${files.length} nested templates to ${bucket}/${prefix}`);
  }
}

module.exports = NestedStacksPlugin;
