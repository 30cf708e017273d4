namespace BatchSync.Aws;

/// <summary>Which exceptions are a dependency's failure (retry the invocation) rather than a bug of ours.</summary>
public static class DependencyFailures
{
    public static bool IsDependencyFailure(Exception e) => e switch
    {
        AwsServiceException or AwsTransportException or BudgetExhaustedException or Domain.SpokeUnreachableException => true,
        Amazon.Runtime.AmazonServiceException or Amazon.Runtime.AmazonClientException => true,
        HttpRequestException or TimeoutException or OperationCanceledException or IOException or System.Net.Sockets.SocketException => true,
        AggregateException { InnerExceptions.Count: > 0 } all => all.InnerExceptions.All(IsDependencyFailure),
        _ => false,
    };
}
