import { SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

/**
 * The queue policy that lets the given EventBridge rules send to a queue, as the stack's rule targets have it in
 * AWS (the emulators do not enforce it, but the setup stays the one a deployment needs).
 */
export async function admitRulesToQueue(sqs: SQSClient, queue: { readonly url: string; readonly arn: string }, ruleArns: readonly string[]): Promise<void> {
  const policy = {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Resource: queue.arn,
        Condition: { ArnEquals: { 'aws:SourceArn': ruleArns.length === 1 ? ruleArns[0] : ruleArns } },
      },
    ],
  };
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl: queue.url, Attributes: { Policy: JSON.stringify(policy) } }));
}
