'use strict';
/**
 * Local serverless plugin (osls 3 and Serverless Framework v4): lets serverless.yml own the REST API stage
 * as a real `AWS::ApiGateway::Stage` resource (`ApiGatewayStage`: method throttling, JSON access logs to an
 * encrypted log group), which serverless itself cannot express.
 *
 * serverless creates the stage implicitly through `ApiGatewayDeployment<random id>.Properties.StageName`
 * and configures logs/tracing with SDK calls after the deploy (its "update stage" hack, run only when
 * `provider.logs.restApi`, `provider.tracing.apiGateway`, `provider.apiGateway.metrics`, `provider.tags` or
 * `provider.stackTags` is set: serverless.yml sets none of them). Once the template is merged, this plugin
 * removes `StageName` from that deployment and points `ApiGatewayStage.DeploymentId` at it, as SAM does.
 *
 * Packaging fails if either end is missing, so a serverless upgrade that changes this cannot go unnoticed.
 * Switching an already deployed stack from the implicit stage to this one needs the stage deleted first
 * (CloudFormation cannot adopt it): not a concern for new stacks.
 */
class ApiStagePlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.wireStage(),
    };
  }

  wireStage() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources || {};
    const stage = resources.ApiGatewayStage;
    const deployments = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::ApiGateway::Deployment');
    if (stage?.Type !== 'AWS::ApiGateway::Stage') {
      throw new Error('api-stage-plugin: serverless.yml must declare resources.ApiGatewayStage (AWS::ApiGateway::Stage)');
    }
    if (deployments.length !== 1) {
      throw new Error(`api-stage-plugin: expected exactly one AWS::ApiGateway::Deployment, found ${deployments.length}`);
    }
    const deployment = resources[deployments[0]];
    delete deployment.Properties.StageName;
    stage.Properties.DeploymentId = { Ref: deployments[0] };
  }
}

module.exports = ApiStagePlugin;
