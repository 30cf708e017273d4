using Amazon.DynamoDBv2.Model;
using BatchSync.Aws;

namespace BatchSync.Store;

/// <summary>
/// DynamoDB's throttling answers, and the bounded, jittered retry that every call of the store makes on them, as our
/// own clients do for Batch and Step Functions (<see cref="AwsTransport"/>): a throttled call did nothing, so it is
/// safe to send again, conditional writes included. The SDK's own retries (MaxErrorRetry) come first, inside each
/// attempt; these go on past them, for a burst that lasts longer, while the invocation's budget allows.
/// </summary>
public static class DynamoThrottling
{
    /// <summary>
    /// The error codes DynamoDB throttles with: ProvisionedThroughputExceededException and RequestLimitExceeded (the
    /// DynamoDB API reference, "Common errors" and each operation's errors), ThrottlingException (control plane and
    /// on-demand bursts), and ThrottlingError as a TransactWriteItems cancellation reason (TransactWriteItems, Errors).
    /// </summary>
    public static readonly HashSet<string> Codes = new(StringComparer.Ordinal)
    {
        "ProvisionedThroughputExceededException", "RequestLimitExceeded", "ThrottlingException", "ThrottlingError",
    };

    public static bool IsThrottling(Exception e) => e switch
    {
        TransactionCanceledException cancelled => cancelled.CancellationReasons is { Count: > 0 } reasons
            ? reasons.Any(r => r.Code is { } code && Codes.Contains(code)) && reasons.All(r => r.Code is null or "None" || Codes.Contains(r.Code))
            : Codes.Contains(cancelled.ErrorCode ?? ""),
        Amazon.Runtime.AmazonServiceException service => Codes.Contains(service.ErrorCode ?? ""),
        _ => false,
    };

    public static async Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> call, RetryPolicy policy, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsThrottling(e) && attempt < policy.MaxThrottledAttempts)
            {
                var backoff = policy.BackoffBefore(attempt);
                if (!InvocationBudget.HoldsRetryAfter(backoff, policy.Clock))
                {
                    throw new BudgetExhaustedException("DynamoDB", "a throttled call", e);
                }
                await policy.Delay(backoff, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
