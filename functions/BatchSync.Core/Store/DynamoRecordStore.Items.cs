using Amazon.DynamoDBv2.Model;
using BatchSync.Domain;

namespace BatchSync.Store;

// A record as a DynamoDB item and back, and the attribute values the requests are written with.
public sealed partial class DynamoRecordStore
{
    private static Dictionary<string, AttributeValue> Key(string taskKey) => new() { ["TaskKey"] = S(taskKey) };

    private static AttributeValue S(string value) => new() { S = value };

    private static AttributeValue N(long value) => new() { N = value.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    private static Dictionary<string, AttributeValue> ToItem(TaskRecord r)
    {
        var item = new Dictionary<string, AttributeValue>
        {
            ["TaskKey"] = S(r.TaskKey),
            ["TaskToken"] = S(r.TaskToken),
            ["Status"] = S(r.Status.ToString()),
            ["CreatedAt"] = N(r.CreatedAt),
            ["UpdatedAt"] = N(r.UpdatedAt),
        };
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                item[name] = S(value);
            }
        }
        void AddNumber(string name, long? value)
        {
            if (value is { } n)
            {
                item[name] = N(n);
            }
        }
        Add("JobId", r.JobId);
        Add("JobArn", r.JobArn);
        Add("JobName", r.JobName);
        Add("Result", r.Result);
        Add("Reason", r.Reason);
        Add("JobQueue", r.JobQueue);
        Add("JobKind", r.JobKind == JobKind.Service ? nameof(JobKind.Service) : null);
        Add("ExecutionArn", r.ExecutionArn);
        Add("Account", r.Account);
        Add("Region", r.Region);
        Add("StateName", r.StateName);
        Add("Submit", r.Submit?.ToString());
        Add("LeaseId", r.LeaseId);
        Add("AnswerClaimId", r.AnswerClaimId);
        AddNumber("LeaseUntil", r.LeaseUntil);
        AddNumber("JobMissingSince", r.JobMissingSince);
        AddNumber("NextCheckAt", r.IsFinished ? null : r.NextCheckAt ?? r.CreatedAt);
        AddNumber("DeadlineAt", r.DeadlineAt);
        AddNumber("AnswerClaimUntil", r.AnswerClaimUntil);
        AddNumber("CheckFailures", r.CheckFailures > 0 ? r.CheckFailures : null);
        Add("Options", r.Options);
        if (!r.IsFinished)
        {
            item["OpenShard"] = S(DueShards.Of(r.TaskKey));
        }
        if (r.ExpiresAt is { } expires)
        {
            item["ExpiresAt"] = N(expires);
        }
        return item;
    }

    private static TaskRecord FromItem(Dictionary<string, AttributeValue> item)
    {
        string? Str(string name) => item.TryGetValue(name, out var v) ? v.S : null;
        long? Num(string name) => item.TryGetValue(name, out var v) && long.TryParse(v.N, out var n) ? n : null;
        return new TaskRecord
        {
            TaskKey = Str("TaskKey")!,
            TaskToken = Str("TaskToken")!,
            Status = Enum.Parse<RecordStatus>(Str("Status")!),
            JobId = Str("JobId"),
            JobArn = Str("JobArn"),
            JobName = Str("JobName"),
            Result = Str("Result"),
            Reason = Str("Reason"),
            JobQueue = Str("JobQueue"),
            JobKind = Str("JobKind") == nameof(JobKind.Service) ? JobKind.Service : JobKind.Container,
            ExecutionArn = Str("ExecutionArn"),
            Account = Str("Account"),
            Region = Str("Region"),
            StateName = Str("StateName"),
            Options = Str("Options"),
            CreatedAt = Num("CreatedAt") ?? 0,
            UpdatedAt = Num("UpdatedAt") ?? 0,
            ExpiresAt = Num("ExpiresAt"),
            Submit = Str("Submit") is { } submit ? Enum.Parse<SubmitState>(submit) : null,
            LeaseId = Str("LeaseId"),
            LeaseUntil = Num("LeaseUntil"),
            JobMissingSince = Num("JobMissingSince"),
            NextCheckAt = Num("NextCheckAt"),
            DeadlineAt = Num("DeadlineAt"),
            AnswerClaimId = Str("AnswerClaimId"),
            AnswerClaimUntil = Num("AnswerClaimUntil"),
            CheckFailures = (int)(Num("CheckFailures") ?? 0),
        };
    }
}
