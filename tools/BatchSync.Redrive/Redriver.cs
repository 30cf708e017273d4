using System.Text;
using System.Text.Json;
using Amazon.SQS;
using Amazon.SQS.Model;

namespace BatchSync.Redrive;

public sealed record RedriveReport(int Read, int Redriven, int Failed);

/// <summary>
/// Replays dead letters through a function: each message of the queue is either a Lambda on-failure destination
/// record (the event is its <c>requestPayload</c>) or an EventBridge dead letter (the event itself). A message is
/// deleted once the function took its event; one the function still refuses stays in the queue for later.
/// </summary>
public sealed class Redriver(IAmazonSQS sqs, Func<byte[], Task> invoke)
{
    /// <summary>How long a message the function refused stays hidden, so one run never takes it twice.</summary>
    public int RefusedVisibilitySeconds { get; init; } = 300;

    public async Task<RedriveReport> RunAsync(string queueUrl, int maxMessages = int.MaxValue, CancellationToken cancellationToken = default)
    {
        int read = 0, redriven = 0, failed = 0;
        while (read < maxMessages)
        {
            var received = await sqs.ReceiveMessageAsync(new ReceiveMessageRequest
            {
                QueueUrl = queueUrl,
                MaxNumberOfMessages = Math.Min(10, maxMessages - read),
                WaitTimeSeconds = 1,
                VisibilityTimeout = RefusedVisibilitySeconds,
            }, cancellationToken).ConfigureAwait(false);
            if (received.Messages is not { Count: > 0 } messages)
            {
                break;
            }
            foreach (var message in messages)
            {
                read++;
                try
                {
                    await invoke(EventOf(message.Body)).ConfigureAwait(false);
                    await sqs.DeleteMessageAsync(queueUrl, message.ReceiptHandle, cancellationToken).ConfigureAwait(false);
                    redriven++;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    failed++;
                    Console.Error.WriteLine($"message {message.MessageId}: still refused ({e.GetType().Name}: {e.Message})");
                }
            }
        }
        return new RedriveReport(read, redriven, failed);
    }

    /// <summary>The event a dead letter holds.</summary>
    public static byte[] EventOf(string body)
    {
        using var doc = JsonDocument.Parse(body);
        return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("requestPayload", out var payload)
            ? Encoding.UTF8.GetBytes(payload.GetRawText())
            : Encoding.UTF8.GetBytes(body);
    }
}
