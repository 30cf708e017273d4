using Amazon.DynamoDBv2.Model;
using BatchSync.Domain;

namespace BatchSync.Store;

/// <summary>The sweep's writes: when each checked record is next due, in transactions of up to 100.</summary>
public sealed partial class DynamoRecordStore
{
    public async Task RescheduleAsync(IReadOnlyList<ScheduledCheck> checks, CancellationToken cancellationToken = default)
    {
        foreach (var chunk in checks.Chunk(RescheduleBatch))
        {
            try
            {
                // One call for up to 100 records, each only if it still exists (no item is created).
                await Call(c => dynamo.TransactWriteItemsAsync(new TransactWriteItemsRequest
                {
                    TransactItems = chunk.Select(check => new TransactWriteItem { Update = RescheduleOf(check) }).ToList(),
                }, c), cancellationToken).ConfigureAwait(false);
            }
            catch (TransactionCanceledException e) when (!DynamoThrottling.IsThrottling(e))
            {
                // A record of the chunk vanished or was written at the same moment: one at a time, then.
                foreach (var check in chunk)
                {
                    var update = RescheduleOf(check);
                    await TryUpdateAsync(new UpdateItemRequest
                    {
                        TableName = update.TableName,
                        Key = update.Key,
                        UpdateExpression = update.UpdateExpression,
                        ConditionExpression = update.ConditionExpression,
                        ExpressionAttributeValues = update.ExpressionAttributeValues,
                    }, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private Update RescheduleOf(ScheduledCheck check) => new()
    {
        TableName = tableName,
        Key = Key(check.TaskKey),
        UpdateExpression = check.Failures > 0 ? "SET NextCheckAt = :next, CheckFailures = :failures" : "SET NextCheckAt = :next REMOVE CheckFailures",
        ConditionExpression = "attribute_exists(TaskKey)",
        ExpressionAttributeValues = check.Failures > 0
            ? new() { [":next"] = N(check.NextCheckAt), [":failures"] = N(check.Failures) }
            : new() { [":next"] = N(check.NextCheckAt) },
    };

    /// <summary>One DynamoDB call, tried again while DynamoDB throttles it (it did nothing), inside the invocation's budget.</summary>
    private Task<T> Call<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        DynamoThrottling.RetryAsync(call, _retry, cancellationToken);
}
