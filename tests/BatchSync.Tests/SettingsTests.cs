using BatchSync.Aws;
using BatchSync.Composition;

namespace BatchSync.Tests;

/// <summary>The settings are read once, at the cold start, and a bad value fails it with the variable's name.</summary>
public class SettingsTests
{
    private static BatchSyncSettings Read(params (string Name, string Value)[] extra)
    {
        var env = new Dictionary<string, string?> { ["AWS_REGION"] = "us-east-1", ["BATCHSYNC_NAMESPACE"] = "ns", ["BATCHSYNC_TABLE"] = "t" };
        foreach (var (name, value) in extra)
        {
            env[name] = value;
        }
        return BatchSyncSettings.From(new AwsSettings(n => env.GetValueOrDefault(n)));
    }

    [Fact]
    public void Unset_values_take_their_defaults()
    {
        var settings = Read();
        Assert.Equal(("ns", "t", TimeSpan.FromDays(30), (TimeSpan?)null), (settings.Namespace, settings.Table, settings.RecordRetention, settings.Budget));
        Assert.Equal(Domain.Timing.Default, settings.Timing);
        Assert.True(settings.Permissions.AllowsEverything);
    }

    [Fact]
    public void Set_values_are_read_once_into_one_object()
    {
        var settings = Read(("BATCHSYNC_INVOCATION_BUDGET_SECONDS", "50"), ("BATCHSYNC_ATTEMPT_TIMEOUT_MS", "2000"), ("BATCHSYNC_SUBMIT_LEASE_SECONDS", "12.5"),
            ("BATCHSYNC_SWEEP_INTERVAL_MINUTES", "10"), ("BATCHSYNC_RECORD_RETENTION_DAYS", "7"), ("BATCHSYNC_ALLOWED_JOB_QUEUES", "arn:aws:batch:*:*:job-queue/q"));
        Assert.Equal(TimeSpan.FromSeconds(50), settings.Budget);
        Assert.Equal(TimeSpan.FromSeconds(2), settings.Retry.AttemptTimeout);
        Assert.Equal(TimeSpan.FromSeconds(12.5), settings.Timing.SubmitLease);
        Assert.Equal(TimeSpan.FromMinutes(10), settings.Timing.SweepInterval);
        Assert.Equal(TimeSpan.FromDays(7), settings.RecordRetention);
        Assert.False(settings.Permissions.AllowsEverything);
    }

    [Theory]
    [InlineData("BATCHSYNC_INVOCATION_BUDGET_SECONDS", "fifty")]
    [InlineData("BATCHSYNC_ATTEMPT_TIMEOUT_MS", "-1")]
    [InlineData("BATCHSYNC_RECORD_RETENTION_DAYS", "1.5")]
    [InlineData("BATCHSYNC_ANSWER_CLAIM_SECONDS", "0")]
    [InlineData("BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES", "NaN")]
    public void A_bad_value_fails_the_cold_start_naming_the_variable(string name, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => Read((name, value)));
        Assert.StartsWith($"{name} must be a positive", error.Message);
        Assert.EndsWith($"(is '{value}').", error.Message);
    }

    [Fact]
    public void A_function_without_its_namespace_or_table_does_not_start()
    {
        var env = new Dictionary<string, string?> { ["AWS_REGION"] = "us-east-1", ["BATCHSYNC_NAMESPACE"] = "ns" };
        Assert.Equal("BATCHSYNC_TABLE is not set.", Assert.Throws<InvalidOperationException>(() => new FunctionHost(new AwsSettings(n => env.GetValueOrDefault(n)), TimeProvider.System)).Message);
    }
}
