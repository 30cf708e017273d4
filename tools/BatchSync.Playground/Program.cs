using System.Runtime.InteropServices;
using BatchSync.Playground;

// batchsync-playground [--fail | --result | --stop | --spoke | --service-job] [--endpoint URL] [--region R] [--artifacts DIR] [--rebuild] [--logs]
// The README's state machine end to end on a local moto: see Playground.cs, and README.md "Try it locally".
var options = Options.Parse(args, out var problem);
if (options is null)
{
    Console.Error.WriteLine(problem);
    Console.Error.WriteLine(Options.Usage);
    return problem is null ? 0 : 2;
}

var cleanup = new Cleanup();
// Ctrl-C, a closed terminal or a kill: stop moto (and a running build) before leaving.
var signals = new[] { (PosixSignal.SIGINT, 130), (PosixSignal.SIGTERM, 143), (PosixSignal.SIGHUP, 129), (PosixSignal.SIGQUIT, 131) }
    .Select(s => PosixSignalRegistration.Create(s.Item1, context =>
    {
        context.Cancel = true;
        Console.Error.WriteLine($"\n{s.Item1}: stopping what the playground started");
        cleanup.Run();
        Environment.Exit(s.Item2);
    }))
    .ToList();
AppDomain.CurrentDomain.ProcessExit += (_, _) => cleanup.Run();

try
{
    return await new Playground(options, cleanup, new Timeline()).RunAsync();
}
catch (PlaygroundException e)
{
    Console.Error.WriteLine($"\nERROR: {e.Message}");
    return 1;
}
catch (Exception e)
{
    Console.Error.WriteLine($"\nERROR: {e.GetType().Name}: {e.Message}");
    Console.Error.WriteLine(e.StackTrace);
    return 1;
}
finally
{
    cleanup.Run();
    GC.KeepAlive(signals);
}

namespace BatchSync.Playground
{
    public enum Scenario
    {
        Succeed,
        Fail,
        Result,
        Stop,
        Spoke,
        ServiceJob,
    }

    public sealed record Options(Scenario Scenario, string? Endpoint, string Region, string? Artifacts, bool Rebuild, bool Logs, string? Stack = null, bool SetupOnly = false)
    {
        public const string Usage = """
            usage: ./scripts/try.sh [--fail | --result | --stop | --spoke | --service-job] [--endpoint URL [--stack NAME] [--setup-only]] [--region REGION]
                                    [--artifacts DIR] [--rebuild] [--logs]
              (default)        a job that succeeds: the task's output is the native JobDetail
              --fail           the job's container exits 1: the task fails with States.TaskFailed and the JobDetail as cause
              --result         the job's code reports a heartbeat and a Result through Callback: the output carries it
              --stop           the execution is stopped while the job runs: the job is terminated with the native reason
              --spoke          the state machine is a tenant's, in another account and region (issue 20): its request is
                               relayed by spoke.yaml's RelaySubmitJobRule to the hub's bus, and the hub answers it as the
                               tenant's spoke role in the tenant's region (STS through a gate that refuses what AWS would)
              --service-job    a SageMaker Training job queued through Batch (issue 21: SubmitServiceJob), run by
                               examples/service-job-state-machine.asl.json: the playground plays SageMaker and Batch's
                               service-job events; the task's output is the DescribeServiceJob detail (moto has no
                               service jobs: a strict stand-in for their API sits in front of it, see DEVELOPERS.md)
              --endpoint URL   use this AWS-compatible endpoint instead of starting moto_server on a free 127.0.0.1 port
              --stack NAME     with --endpoint: name things as stack NAME would (default: try-<random>)
              --setup-only     with --endpoint: create the template's table, queues and rules and a Batch queue and job
                               definition there, print their names, and stop (for `sam local`, see README)
              --region REGION  region to create things in (default us-east-1; with --spoke the hub's, the tenant's is another)
              --artifacts DIR  load the functions from DIR/<Function>Function (built by `make build-<Function>Function`)
                               instead of building them into artifacts/playground
              --rebuild        build the functions even when artifacts/playground is newer than the sources
              --logs           print the functions' own log lines too
            """;

        public static Options? Parse(string[] args, out string? problem)
        {
            problem = null;
            var scenario = Scenario.Succeed;
            string? endpoint = null, artifacts = null, stack = null;
            var region = "us-east-1";
            bool rebuild = false, logs = false, setupOnly = false;
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                try
                {
                    switch (args[i])
                    {
                        case "--fail" or "--result" or "--stop" or "--spoke" or "--service-job":
                            if (scenario != Scenario.Succeed)
                            {
                                problem = "choose one of --fail, --result, --stop, --spoke, --service-job";
                                return null;
                            }
                            scenario = args[i] switch
                            {
                                "--fail" => Scenario.Fail, "--result" => Scenario.Result, "--spoke" => Scenario.Spoke,
                                "--service-job" => Scenario.ServiceJob, _ => Scenario.Stop,
                            };
                            break;
                        case "--endpoint":
                            endpoint = Next();
                            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                            {
                                problem = $"--endpoint {endpoint}: not an http(s) URL";
                                return null;
                            }
                            break;
                        case "--stack":
                            stack = Next();
                            if (!System.Text.RegularExpressions.Regex.IsMatch(stack, "^[a-zA-Z][-a-zA-Z0-9]{0,40}$"))
                            {
                                problem = $"--stack {stack}: a stack name is letters, digits and hyphens, starting with a letter (at most 41 here)";
                                return null;
                            }
                            break;
                        case "--setup-only":
                            setupOnly = true;
                            break;
                        case "--region":
                            region = Next();
                            break;
                        case "--artifacts":
                            artifacts = Path.GetFullPath(Next());
                            break;
                        case "--rebuild":
                            rebuild = true;
                            break;
                        case "--logs":
                            logs = true;
                            break;
                        case "-h" or "--help":
                            return null;
                        default:
                            problem = $"unknown option {args[i]}";
                            return null;
                    }
                }
                catch (ArgumentException e)
                {
                    problem = e.Message;
                    return null;
                }
            }
            if (endpoint is not null && scenario == Scenario.Spoke)
            {
                problem = "--spoke needs the playground's own moto (accounts by access key, its STS gate in front of it, its fake Docker engine): drop --endpoint";
                return null;
            }
            if (endpoint is not null && scenario == Scenario.ServiceJob)
            {
                problem = "--service-job needs the playground's own moto (its service-job stand-in in front of it, which plays Batch's service jobs): drop --endpoint";
                return null;
            }
            if (endpoint is not null && scenario is Scenario.Fail or Scenario.Stop)
            {
                problem = "--fail and --stop need the playground's own moto (its fake Docker engine ends or keeps the job's container): drop --endpoint";
                return null;
            }
            if (endpoint is null && (stack is not null || setupOnly))
            {
                problem = "--stack and --setup-only go with --endpoint (the playground's own moto stops when it ends)";
                return null;
            }
            return new Options(scenario, endpoint, region, artifacts, rebuild, logs, stack, setupOnly);
        }
    }

    /// <summary>A failure the playground explains itself (no stack trace).</summary>
    public sealed class PlaygroundException(string message) : Exception(message);
}
