using System.Text;
using System.Text.Json;
using Amazon.SQS;
using Amazon.SQS.Model;

namespace BatchSync.Redrive;

public sealed record RedriveReport(int Read, int Redriven, int Failed);

/// <summary>Where one dead letter goes: the function to invoke (null: none known) and the event to invoke it with.</summary>
public sealed record DeadLetter(string? Function, byte[] Event);

/// <summary>
/// Replays dead letters: each message of the queue is either a Lambda on-failure destination record (the event is its
/// <c>requestPayload</c>, the function that failed its <c>requestContext.functionArn</c>) or an EventBridge dead letter
/// (the event itself, naming no function: it goes to the queue's own function, given by the caller). Each on-failure
/// record is replayed through the function that failed. A message is deleted once the function took its event; one the
/// function still refuses, or that names no function, stays in the queue for later.
/// </summary>
public sealed class Redriver
{
    private readonly IAmazonSQS _sqs;
    private readonly Func<string, byte[], Task> _invoke;
    private readonly string? _defaultFunction;

    /// <param name="sqs">The client of the queues redriven.</param>
    /// <param name="invoke">Invokes a function (name or ARN) with an event; throws when the function refuses it.</param>
    /// <param name="defaultFunction">Where messages that name no function go (EventBridge dead letters); null: nowhere.</param>
    public Redriver(IAmazonSQS sqs, Func<string, byte[], Task> invoke, string? defaultFunction)
    {
        _sqs = sqs;
        _invoke = invoke;
        _defaultFunction = defaultFunction;
    }

    /// <summary>Every message through one function, whatever function it names.</summary>
    public Redriver(IAmazonSQS sqs, Func<byte[], Task> invoke)
        : this(sqs, (_, payload) => invoke(payload), "")
    {
        _everyMessageToDefault = true;
    }

    private readonly bool _everyMessageToDefault;

    /// <summary>How long a message the function refused stays hidden, so one run never takes it twice.</summary>
    public int RefusedVisibilitySeconds { get; init; } = 300;

    public async Task<RedriveReport> RunAsync(string queueUrl, int maxMessages = int.MaxValue, CancellationToken cancellationToken = default)
    {
        int read = 0, redriven = 0, failed = 0;
        while (read < maxMessages)
        {
            var received = await _sqs.ReceiveMessageAsync(new ReceiveMessageRequest
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
                    var letter = Read(message.Body);
                    var function = _everyMessageToDefault ? _defaultFunction! : letter.Function ?? _defaultFunction
                        ?? throw new InvalidOperationException("the message names no function (an EventBridge dead letter): pass --function");
                    await _invoke(function, letter.Event).ConfigureAwait(false);
                    await _sqs.DeleteMessageAsync(queueUrl, message.ReceiptHandle, cancellationToken).ConfigureAwait(false);
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
    public static byte[] EventOf(string body) => Read(body).Event;

    /// <summary>The event a dead letter holds and, for an on-failure record, the function that failed.</summary>
    public static DeadLetter Read(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("requestPayload", out var payload))
        {
            var function = root.TryGetProperty("requestContext", out var context) && context.ValueKind == JsonValueKind.Object
                && context.TryGetProperty("functionArn", out var arn) && arn.ValueKind == JsonValueKind.String
                ? arn.GetString()
                : null;
            return new DeadLetter(function, Encoding.UTF8.GetBytes(payload.GetRawText()));
        }
        return new DeadLetter(null, Encoding.UTF8.GetBytes(body));
    }
}
