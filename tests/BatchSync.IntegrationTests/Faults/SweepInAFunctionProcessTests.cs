using System.Diagnostics;
using System.Text.Json.Nodes;
using BatchSync.Aws;
using BatchSync.IntegrationTests.Moto;
using BatchSync.Composition;
using Xunit.Abstractions;

namespace BatchSync.IntegrationTests.Faults;

/// <summary>
/// The built Reconcile function (its <c>make build-ReconcileFunction</c> artifact, what <c>sam build</c> ships) in a
/// process of its own, one invocation as the runbook's manual sweep makes one, living ten minutes "later" under
/// libfaketime (Debian's <c>faketime</c>: <c>LD_PRELOAD</c> and <c>FAKETIME=+600s</c> shift the clock the .NET runtime
/// reads), so a real sweep finds a record due without the test waiting for the deployed five-minute schedule.
/// </summary>
[Collection(MotoCollection.Name)]
public class SweepInAFunctionProcessTests(MotoFixture moto, ITestOutputHelper output)
{
    private const string Handler = "BatchSync.Reconcile::BatchSync.Reconcile.Function::HandleAsync";

    private static readonly Dictionary<string, string?> Deployed = new()
    {
        ["BATCHSYNC_SWEEP_INTERVAL_MINUTES"] = "5",
        ["BATCHSYNC_MAX_CHECK_INTERVAL_MINUTES"] = "60",
        ["BATCHSYNC_INVOCATION_BUDGET_SECONDS"] = "50",
    };

    /// <summary>libfaketime's preload library, where Debian's package puts it (any architecture).</summary>
    public static string LibFaketime() =>
        Directory.Exists("/usr/lib")
            ? Directory.EnumerateFiles("/usr/lib", "libfaketime.so.1", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 3, IgnoreInaccessible = true }).FirstOrDefault()
              ?? throw new InvalidOperationException("libfaketime is not installed (Debian package faketime): scripts/test.sh installs it with apt-get; or run: apt-get install faketime")
            : throw new InvalidOperationException("no /usr/lib: libfaketime (Debian package faketime) cannot be found");

    private static async Task<string> BuildAsync(string function)
    {
        var directory = Path.Combine(SamTemplate.RepoRoot, "artifacts", "faketime", function);
        var make = Process.Start(new ProcessStartInfo("make", ["--no-print-directory", $"build-{function}", $"ARTIFACTS_DIR={directory}"])
        {
            WorkingDirectory = SamTemplate.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var (stdout, stderr) = (make.StandardOutput.ReadToEndAsync(), make.StandardError.ReadToEndAsync());
        await make.WaitForExitAsync();
        Assert.True(make.ExitCode == 0, $"make build-{function} failed:\n{await stdout}{await stderr}");
        return directory;
    }

    private async Task<JsonObject> InvokeAsync(string artifact, string payload, string? shift)
    {
        var tool = Path.Combine(AppContext.BaseDirectory.Replace(
            Path.Combine("tests", "BatchSync.IntegrationTests"), Path.Combine("tools", "BatchSync.InvokeFunction")), "batchsync-invoke-function.dll");
        Assert.True(File.Exists(tool), $"{tool} is missing: the test project builds it (a ProjectReference)");
        var payloadFile = Path.GetTempFileName();
        await File.WriteAllTextAsync(payloadFile, payload);
        var start = new ProcessStartInfo("dotnet", ["exec", tool, artifact, Handler, payloadFile])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        if (shift is not null)
        {
            start.Environment["LD_PRELOAD"] = LibFaketime();
            start.Environment["FAKETIME"] = shift;
        }
        using var process = Process.Start(start)!;
        var (stdout, stderr) = (process.StandardOutput.ReadToEndAsync(), process.StandardError.ReadToEndAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        File.Delete(payloadFile);
        var log = await stderr;
        output.WriteLine($"--- Reconcile process{(shift is null ? "" : $" (FAKETIME={shift})")}, exit {process.ExitCode}:\n{log}");
        Assert.True(process.ExitCode == 0, $"the Reconcile process failed: {log}");
        return JsonNode.Parse(await stdout)!.AsObject();
    }

    [Fact]
    public async Task The_built_Reconcile_run_ten_minutes_later_finds_the_task_due_and_delivers_the_outcome_its_lost_event_withheld()
    {
        var artifact = await BuildAsync("ReconcileFunction");
        var world = new AwsWorld(moto.Server, "eu-south-2", "faketime");
        var (queue, definition, _) = await world.CreateBatchAsync("faketime");
        await world.CreateTableFromTemplateAsync();
        using var proxy = new FaultProxy(moto.Server.Endpoint, seed: 600);
        world.ExportEnvironment(proxy.Endpoint, Deployed);
        try
        {
            // A task submitted now on the deployed schedule (first check five minutes after submit). moto's simple Batch
            // ends the job at once, and no event of it ever comes: the sweep is all that can answer the task.
            var token = $"faketime-token-{Guid.NewGuid()}";
            var submit = new SubmitJob.Function(new FunctionHost(AwsSettings.FromEnvironment(), TimeProvider.System));
            var submitted = await AwsWorld.InvokeAsync(submit.HandleAsync, new JsonObject
            {
                ["JobName"] = "faketime", ["JobQueue"] = queue, ["JobDefinition"] = definition, ["TaskToken"] = token,
            });
            var jobId = (string)submitted["JobId"]!;
            var sweep = """{"Sweep": {}}""";

            // The same process now: nothing is due yet.
            var now = await InvokeAsync(artifact, sweep, shift: null);
            Assert.Equal(0, (int)now["Examined"]!);
            Assert.DoesNotContain(proxy.Calls, c => c.Operation == "SendTaskSuccess");

            // Ten minutes later, by the process's own clock.
            var later = await InvokeAsync(artifact, sweep, shift: "+600s");
            Assert.Equal(1, (int)later["Examined"]!);
            Assert.Equal(1, (int)later["Delivered"]!);
            Assert.Equal(1, (int)later["Recorded"]!);
            var answers = proxy.Calls.Where(c => c.Operation == "SendTaskSuccess").ToList();
            var answer = Assert.Single(answers);
            Assert.Contains(token, answer.Body);
            Assert.Contains(jobId, answer.Body);
            var record = await world.Store.GetAsync(Domain.TaskKey.For(token));
            Assert.True(record!.IsFinished, $"the record is {record.Status}");
        }
        finally
        {
            world.ExportEnvironment();
        }
    }
}
