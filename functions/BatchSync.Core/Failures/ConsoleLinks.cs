using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.Failures;

/// <summary>
/// Console links for a job, for tasks that opted into <c>Links</c>: the job's page in the Batch console, the CloudWatch
/// Logs page of each attempt's log stream (one per container for ECS-properties jobs), and the execution's page when
/// the task gave its ExecutionArn. Partition-aware (aws, aws-cn, aws-us-gov; other partitions have no public console,
/// so no links). A container's <c>awslogs-group</c>/<c>awslogs-region</c> log options are honoured; without them the
/// stream is in <c>/aws/batch/job</c>, the job's region. EKS jobs log elsewhere and get no log links.
/// </summary>
public static class ConsoleLinks
{
    public const string DefaultLogGroup = "/aws/batch/job";

    /// <summary>The links as a native-style object (members sorted), or null when the job's ARN says nothing usable.</summary>
    public static JsonObject? For(JsonElement jobDetail, string? executionArn)
    {
        var jobArn = Str(jobDetail, "jobArn");
        var jobId = Str(jobDetail, "jobId");
        if (Arn(jobArn) is not { } arn || jobId is null || Host(arn.Partition, arn.Region) is not { } host)
        {
            return null;
        }
        var links = new JsonObject();
        if (executionArn is not null && Arn(executionArn) is { } execution && Host(execution.Partition, execution.Region) is { } sfnHost)
        {
            links["Execution"] = $"{sfnHost}/states/home?region={execution.Region}#/v2/executions/details/{executionArn}";
        }
        if (Domain.BatchJob.KindOf(jobDetail) == Domain.JobKind.Service)
        {
            AddTrainingJob(links, jobDetail, host, arn.Region);
            return links;
        }
        links["Job"] = $"{host}/batch/home?region={arn.Region}#jobs/detail/{jobId}";
        var logs = new JsonArray();
        if (jobDetail.TryGetProperty("attempts", out var attempts) && attempts.ValueKind == JsonValueKind.Array)
        {
            var number = 0;
            foreach (var attempt in attempts.EnumerateArray())
            {
                number++;
                if (attempt.TryGetProperty("container", out var container) && container.ValueKind == JsonValueKind.Object)
                {
                    AddLog(logs, arn.Partition, arn.Region, number, null, Str(container, "logStreamName"), JobContainerLogOptions(jobDetail));
                }
                var taskIndex = 0;
                foreach (var task in Items(attempt, "taskProperties"))
                {
                    foreach (var c in Items(task, "containers"))
                    {
                        var name = Str(c, "name");
                        AddLog(logs, arn.Partition, arn.Region, number, name, Str(c, "logStreamName"), TaskContainerLogOptions(jobDetail, taskIndex, name));
                    }
                    taskIndex++;
                }
            }
        }
        if (logs.Count > 0)
        {
            links["Logs"] = logs;
        }
        return links;
    }

    /// <summary>
    /// Where a container of the job logs: its log group and region (null: the job's) from its <c>awslogs-*</c> options,
    /// and whether it logs to CloudWatch Logs at all. <paramref name="container"/> null is the job's own container.
    /// </summary>
    public static (string Group, string? Region, bool CloudWatch) LogLocation(JsonElement jobDetail, string? container)
    {
        var options = container is null ? JobContainerLogOptions(jobDetail) : TaskContainerLogOptions(jobDetail, container);
        if (options is not { } o)
        {
            return (DefaultLogGroup, null, true);
        }
        if (o.TryGetProperty("logDriver", out var driver) && driver.ValueKind == JsonValueKind.String && driver.GetString() != "awslogs")
        {
            return (DefaultLogGroup, null, false);
        }
        return o.TryGetProperty("options", out var opts) && opts.ValueKind == JsonValueKind.Object
            ? (Str(opts, "awslogs-group") ?? DefaultLogGroup, Str(opts, "awslogs-region"), true)
            : (DefaultLogGroup, null, true);
    }

    /// <summary>The CloudWatch Logs console page of one stream (path segments encoded the way the console expects).</summary>
    public static string? LogStreamUrl(string partition, string region, string group, string stream) =>
        Host(partition, region) is { } host
            ? $"{host}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{ConsoleEncode(group)}/log-events/{ConsoleEncode(stream)}"
            : null;

    /// <summary>The log group SageMaker writes training jobs' logs to, a stream per instance named after the job.</summary>
    public const string TrainingJobLogGroup = "/aws/sagemaker/TrainingJobs";

    /// <summary>
    /// A service job's links: its SageMaker training job's page and that job's log streams (by name prefix: the streams
    /// are SageMaker's, <c>&lt;training job&gt;/algo-&lt;n&gt;-&lt;epoch&gt;</c>). The Batch console's page for a service
    /// job is not documented, so none is given.
    /// </summary>
    private static void AddTrainingJob(JsonObject links, JsonElement jobDetail, string host, string region)
    {
        if (FailureClassifier.TrainingJobArn(jobDetail) is not { } trainingJob || trainingJob.LastIndexOf('/') is var slash && slash < 0)
        {
            return;
        }
        var name = trainingJob[(slash + 1)..];
        links["TrainingJob"] = $"{host}/sagemaker/home?region={region}#/jobs/{Uri.EscapeDataString(name)}";
        links["TrainingJobLogs"] = $"{host}/cloudwatch/home?region={region}#logStream:group={TrainingJobLogGroup};prefix={Uri.EscapeDataString(name)};streamFilter=typeLogStreamPrefix";
    }

    /// <summary>The console's fragment encoding: percent-encoding whose '%' is itself written as "$25".</summary>
    public static string ConsoleEncode(string segment) => Uri.EscapeDataString(segment).Replace("%", "$25", StringComparison.Ordinal);

    /// <summary>The console's base address for a region of a partition; null where there is no public console.</summary>
    public static string? Host(string partition, string region) => partition switch
    {
        "aws" => $"https://{region}.console.aws.amazon.com",
        "aws-cn" => $"https://{region}.console.amazonaws.cn",
        "aws-us-gov" => "https://console.amazonaws-us-gov.com",
        _ => null,
    };

    private static void AddLog(JsonArray logs, string partition, string jobRegion, int attempt, string? container, string? stream, JsonElement? options)
    {
        if (stream is null)
        {
            return;
        }
        var group = DefaultLogGroup;
        var region = jobRegion;
        if (options is { } o)
        {
            if (o.TryGetProperty("logDriver", out var driver) && driver.ValueKind == JsonValueKind.String && driver.GetString() != "awslogs")
            {
                return;
            }
            if (o.TryGetProperty("options", out var opts) && opts.ValueKind == JsonValueKind.Object)
            {
                group = Str(opts, "awslogs-group") ?? group;
                region = Str(opts, "awslogs-region") ?? region;
            }
        }
        var entry = new JsonObject { ["Attempt"] = attempt };
        if (container is not null)
        {
            entry["Container"] = container;
        }
        entry["LogGroup"] = group;
        entry["LogStreamName"] = stream;
        entry["Region"] = region;
        entry["Url"] = LogStreamUrl(partition, region, group, stream);
        logs.Add(entry);
    }

    private static JsonElement? JobContainerLogOptions(JsonElement job) =>
        job.TryGetProperty("container", out var c) && c.ValueKind == JsonValueKind.Object
        && c.TryGetProperty("logConfiguration", out var l) && l.ValueKind == JsonValueKind.Object ? l : null;

    private static JsonElement? TaskContainerLogOptions(JsonElement job, int taskIndex, string? name)
    {
        if (!job.TryGetProperty("ecsProperties", out var ecs) || ecs.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        var index = 0;
        foreach (var task in Items(ecs, "taskProperties"))
        {
            if (index++ != taskIndex)
            {
                continue;
            }
            foreach (var c in Items(task, "containers"))
            {
                if (Str(c, "name") == name && c.TryGetProperty("logConfiguration", out var l) && l.ValueKind == JsonValueKind.Object)
                {
                    return l;
                }
            }
        }
        return null;
    }

    private static JsonElement? TaskContainerLogOptions(JsonElement job, string name)
    {
        if (!job.TryGetProperty("ecsProperties", out var ecs) || ecs.ValueKind != JsonValueKind.Object)
        {
            return null;
        }
        foreach (var task in Items(ecs, "taskProperties"))
        {
            foreach (var c in Items(task, "containers"))
            {
                if (Str(c, "name") == name && c.TryGetProperty("logConfiguration", out var l) && l.ValueKind == JsonValueKind.Object)
                {
                    return l;
                }
            }
        }
        return null;
    }

    private static (string Partition, string Region)? Arn(string? arn)
    {
        var parts = arn?.Split(':');
        return parts is { Length: >= 6 } && parts[0] == "arn" && parts[1].Length > 0 && parts[3].Length > 0 ? (parts[1], parts[3]) : null;
    }

    private static IEnumerable<JsonElement> Items(JsonElement owner, string name) =>
        owner.TryGetProperty(name, out var list) && list.ValueKind == JsonValueKind.Array ? list.EnumerateArray() : [];

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s ? s : null;
}
