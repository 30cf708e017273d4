namespace BatchSync.IntegrationTests.Moto;

/// <summary>One moto server for the whole integration run (the tests run one at a time; each uses its own region).</summary>
public sealed class MotoFixture : IDisposable
{
    public MotoFixture()
    {
        // The credential chain needs some credentials; moto accepts any.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "testing");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "testing");
        Server = new MotoServer();
        Server.UseSimpleModes();
        // A second server whose Batch fails every job (moto's MOTO_SIMPLE_BATCH_FAIL_AFTER=0).
        FailingBatch = new MotoServer(new Dictionary<string, string> { ["MOTO_SIMPLE_BATCH_FAIL_AFTER"] = "0" });
        FailingBatch.UseSimpleModes();
        // A third whose Batch walks SUBMITTED → PENDING → RUNNABLE → STARTING → FAILED, a few seconds a step
        // (Docker mode with no Docker engine), so tests can act while a job is still queued.
        SlowBatch = new MotoServer();
        SlowBatch.Post("/moto-api/config", """{"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}""");
        SlowBatch.Post("/moto-api/state-manager/set-transition", """{"model_name":"batch::job","transition":{"progression":"time","seconds":3}}""");
    }

    public MotoServer SlowBatch { get; }

    public MotoServer Server { get; }
    public MotoServer FailingBatch { get; }

    public void Dispose()
    {
        Server.Dispose();
        FailingBatch.Dispose();
        SlowBatch.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class MotoCollection : ICollectionFixture<MotoFixture>
{
    public const string Name = "moto";
}
