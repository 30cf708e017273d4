using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using BatchSync.Aws;
using BatchSync.Domain;

namespace BatchSync.Store;

/// <summary>
/// Task records in one DynamoDB table: hash key TaskKey; JobId-index (JobId, keys only); ExecutionArn-index
/// (ExecutionArn, keys only); Due-index, a sparse index of unfinished records (OpenShard, one of 16 values by key, +
/// NextCheckAt) whose partition attribute is removed when a record finishes, so a sweep reads only the records due; TTL on ExpiresAt, set when a
/// record finishes.
/// </summary>
public sealed partial class DynamoRecordStore(IAmazonDynamoDB dynamo, string tableName, TimeProvider clock, TimeSpan finishedRetention, RetryPolicy? retry = null) : IRecordStore
{
    private readonly RetryPolicy _retry = retry ?? RetryPolicy.Default;

    public const string JobIdIndex = "JobId-index";
    public const string ExecutionIndex = "ExecutionArn-index";
    public const string DueIndex = "Due-index";
    /// <summary>Records rescheduled per TransactWriteItems call (DynamoDB's limit per transaction is 100 actions).</summary>
    public const int RescheduleBatch = 100;
    private const string Open = "#s IN (:submitting, :submitted)";

    /// <summary>The store for a function: its settings read once by the composition root.</summary>
    public static DynamoRecordStore Create(AwsSettings aws, string table, TimeSpan finishedRetention, RetryPolicy retry, TimeProvider clock)
    {
        var config = new AmazonDynamoDBConfig
        {
            Timeout = retry.AttemptTimeout,
            MaxErrorRetry = 3,
            AuthenticationRegion = aws.Region,
            HttpClientFactory = new SharedHttp.SdkClientFactory(),
        };
        aws.ApplyEndpoint(config, "DYNAMODB");
        return new DynamoRecordStore(new AmazonDynamoDBClient(SharedHttp.Credentials, config), table, clock, finishedRetention, retry);
    }

    /// <summary>The store from the environment's values, for tools and tests (the functions use the overload above).</summary>
    public static DynamoRecordStore Create(AwsSettings settings, TimeProvider clock) => Create(
        settings,
        settings.Value("BATCHSYNC_TABLE") ?? throw new InvalidOperationException("BATCHSYNC_TABLE is not set."),
        TimeSpan.FromDays(int.TryParse(settings.Value("BATCHSYNC_RECORD_RETENTION_DAYS"), out var d) && d > 0 ? d : 30),
        RetryPolicy.FromSettings(settings),
        clock);

    public async Task<bool> TryCreateAsync(TaskRecord record, CancellationToken cancellationToken = default)
    {
        try
        {
            await Call(c => dynamo.PutItemAsync(new PutItemRequest
            {
                TableName = tableName,
                Item = ToItem(record),
                ConditionExpression = "attribute_not_exists(TaskKey)",
            }, c), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    public async Task<TaskRecord?> GetAsync(string taskKey, CancellationToken cancellationToken = default)
    {
        var response = await Call(c => dynamo.GetItemAsync(new GetItemRequest
        {
            TableName = tableName,
            Key = Key(taskKey),
            ConsistentRead = true,
        }, c), cancellationToken).ConfigureAwait(false);
        return response.Item is { Count: > 0 } item ? FromItem(item) : null;
    }

    public async Task<TaskRecord?> FindByJobIdAsync(string jobId, CancellationToken cancellationToken = default)
    {
        var response = await Call(c => dynamo.QueryAsync(new QueryRequest
        {
            TableName = tableName,
            IndexName = JobIdIndex,
            KeyConditionExpression = "JobId = :id",
            ExpressionAttributeValues = new() { [":id"] = new AttributeValue { S = jobId } },
            Limit = 1,
        }, c), cancellationToken).ConfigureAwait(false);
        var key = response.Items?.FirstOrDefault()?.GetValueOrDefault("TaskKey")?.S;
        return key is null ? null : await GetAsync(key, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> TryTakeLeaseAsync(string taskKey, SubmitState seen, string leaseId, long leaseUntil, long now, CancellationToken cancellationToken = default)
    {
        var condition = "#s = :submitting AND attribute_not_exists(JobId) AND " + (seen == SubmitState.Leased
            ? "(attribute_not_exists(#sub) OR #sub = :seen) AND (attribute_not_exists(LeaseUntil) OR LeaseUntil < :nowms)"
            : "#sub = :seen");
        return await TryUpdateAsync(new UpdateItemRequest
        {
            TableName = tableName,
            Key = Key(taskKey),
            UpdateExpression = "SET #sub = :leased, LeaseId = :lease, LeaseUntil = :until, UpdatedAt = :now",
            ConditionExpression = condition,
            ExpressionAttributeNames = new() { ["#s"] = "Status", ["#sub"] = "Submit" },
            ExpressionAttributeValues = new Dictionary<string, AttributeValue>
            {
                [":submitting"] = S(nameof(RecordStatus.Submitting)),
                [":seen"] = S(seen.ToString()),
                [":leased"] = S(nameof(SubmitState.Leased)),
                [":lease"] = S(leaseId),
                [":until"] = N(leaseUntil),
                [":now"] = N(Now),
            }.Concat(seen == SubmitState.Leased ? [KeyValuePair.Create(":nowms", N(now))] : []).ToDictionary(),
        }, cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> ReleaseLeaseAsync(string taskKey, string leaseId, SubmitState state, string reason, CancellationToken cancellationToken = default) =>
        await TryUpdateAsync(new UpdateItemRequest
        {
            TableName = tableName,
            Key = Key(taskKey),
            UpdateExpression = "SET #sub = :state, Reason = :reason, UpdatedAt = :now REMOVE LeaseId, LeaseUntil",
            ConditionExpression = "#s = :submitting AND LeaseId = :lease AND attribute_not_exists(JobId)",
            ExpressionAttributeNames = new() { ["#s"] = "Status", ["#sub"] = "Submit" },
            ExpressionAttributeValues = new()
            {
                [":submitting"] = S(nameof(RecordStatus.Submitting)),
                [":state"] = S(state.ToString()),
                [":reason"] = S(reason),
                [":lease"] = S(leaseId),
                [":now"] = N(Now),
            },
        }, cancellationToken).ConfigureAwait(false);

    public async Task<(AttachOutcome Outcome, TaskRecord? Record)> AttachJobAsync(string taskKey, SubmittedJob job, CancellationToken cancellationToken = default)
    {
        // Only an open record that names no job takes it: DynamoDB would overwrite a racing attach.
        try
        {
            var response = await Call(c => dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = Key(taskKey),
                UpdateExpression = "SET JobId = :id, JobArn = :arn, JobName = :name, UpdatedAt = :now, #s = :submitted REMOVE LeaseId, LeaseUntil, #sub",
                ConditionExpression = $"{Open} AND attribute_not_exists(JobId)",
                ExpressionAttributeNames = new() { ["#s"] = "Status", ["#sub"] = "Submit" },
                ExpressionAttributeValues = new()
                {
                    [":id"] = S(job.JobId),
                    [":arn"] = S(job.JobArn),
                    [":name"] = S(job.JobName),
                    [":now"] = N(Now),
                    [":submitting"] = S(nameof(RecordStatus.Submitting)),
                    [":submitted"] = S(nameof(RecordStatus.Submitted)),
                },
                ReturnValues = ReturnValue.ALL_NEW,
            }, c), cancellationToken).ConfigureAwait(false);
            return (AttachOutcome.Attached, FromItem(response.Attributes));
        }
        catch (ConditionalCheckFailedException)
        {
            // Rare: read what stopped it (this job already, another one, or an ending).
            var record = await GetAsync(taskKey, cancellationToken).ConfigureAwait(false);
            return (AttachOutcomes.Of(record, job.JobId, written: false), record);
        }
    }

    public async Task<AnswerClaim> TryClaimAnswerAsync(string taskKey, string claimId, long claimUntil, long now, CancellationToken cancellationToken = default)
    {
        try
        {
            var response = await Call(c => dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = Key(taskKey),
                UpdateExpression = "SET AnswerClaimId = :claim, AnswerClaimUntil = :until, UpdatedAt = :now",
                ConditionExpression = $"{Open} AND (attribute_not_exists(AnswerClaimUntil) OR AnswerClaimUntil < :nowms)",
                ExpressionAttributeNames = new() { ["#s"] = "Status" },
                ExpressionAttributeValues = new()
                {
                    [":claim"] = S(claimId),
                    [":until"] = N(claimUntil),
                    [":nowms"] = N(now),
                    [":now"] = N(Now),
                    [":submitting"] = S(nameof(RecordStatus.Submitting)),
                    [":submitted"] = S(nameof(RecordStatus.Submitted)),
                },
                ReturnValues = ReturnValue.ALL_OLD,
            }, c), cancellationToken).ConfigureAwait(false);
            var old = FromItem(response.Attributes);
            return new AnswerClaim(old.AnswerClaimId is null ? ClaimOutcome.Claimed : ClaimOutcome.ClaimedAfterExpiredClaim,
                old with { AnswerClaimId = claimId, AnswerClaimUntil = claimUntil });
        }
        catch (ConditionalCheckFailedException)
        {
            var record = await GetAsync(taskKey, cancellationToken).ConfigureAwait(false);
            return new AnswerClaim(record is null || record.IsFinished ? ClaimOutcome.Finished : ClaimOutcome.Held, record);
        }
    }

    public async Task ReleaseAnswerClaimAsync(string taskKey, string claimId, CancellationToken cancellationToken = default) =>
        await TryUpdateAsync(new UpdateItemRequest
        {
            TableName = tableName,
            Key = Key(taskKey),
            UpdateExpression = "REMOVE AnswerClaimId, AnswerClaimUntil",
            ConditionExpression = "AnswerClaimId = :claim",
            ExpressionAttributeValues = new() { [":claim"] = S(claimId) },
        }, cancellationToken).ConfigureAwait(false);

    public async Task SetJobMissingSinceAsync(string taskKey, long? since, CancellationToken cancellationToken = default) =>
        await TryUpdateAsync(new UpdateItemRequest
        {
            TableName = tableName,
            Key = Key(taskKey),
            UpdateExpression = since is null ? "SET UpdatedAt = :now REMOVE JobMissingSince" : "SET JobMissingSince = :since, UpdatedAt = :now",
            ConditionExpression = Open,
            ExpressionAttributeNames = new() { ["#s"] = "Status" },
            ExpressionAttributeValues = new Dictionary<string, AttributeValue>
            {
                [":now"] = N(Now),
                [":submitting"] = S(nameof(RecordStatus.Submitting)),
                [":submitted"] = S(nameof(RecordStatus.Submitted)),
            }.Concat(since is { } at ? [KeyValuePair.Create(":since", N(at))] : []).ToDictionary(),
        }, cancellationToken).ConfigureAwait(false);

    private async Task<bool> TryUpdateAsync(UpdateItemRequest request, CancellationToken cancellationToken)
    {
        try
        {
            await Call(c => dynamo.UpdateItemAsync(request, c), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    public async Task<IReadOnlyList<TaskRecord>> FindOpenByExecutionAsync(string executionArn, CancellationToken cancellationToken = default)
    {
        var records = new List<TaskRecord>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var response = await Call(c => dynamo.QueryAsync(new QueryRequest
            {
                TableName = tableName,
                IndexName = ExecutionIndex,
                KeyConditionExpression = "ExecutionArn = :e",
                ExpressionAttributeValues = new() { [":e"] = S(executionArn) },
                ExclusiveStartKey = start,
            }, c), cancellationToken).ConfigureAwait(false);
            foreach (var key in response.Items ?? [])
            {
                if (await GetAsync(key["TaskKey"].S, cancellationToken).ConfigureAwait(false) is { IsFinished: false } record)
                {
                    records.Add(record);
                }
            }
            start = response.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null);
        return records;
    }

    public async Task<IReadOnlyList<TaskRecord>> ListDueAsync(long dueBy, int limit, IReadOnlyList<string>? shards = null, CancellationToken cancellationToken = default)
    {
        var due = await Task.WhenAll((shards ?? DueShards.All).Select(shard => DueKeysAsync(shard, dueBy, limit, cancellationToken))).ConfigureAwait(false);
        var keys = due.SelectMany(k => k).OrderBy(k => k.NextCheckAt).ThenBy(k => k.TaskKey, StringComparer.Ordinal).Take(limit).Select(k => k.TaskKey).ToList();
        var records = new List<TaskRecord>(keys.Count);
        foreach (var chunk in keys.Chunk(100))
        {
            records.AddRange(await GetManyAsync(chunk, cancellationToken).ConfigureAwait(false));
        }
        return records.OrderBy(r => r.NextCheckAt ?? 0).ThenBy(r => r.TaskKey, StringComparer.Ordinal).ToList();
    }

    private async Task<List<(string TaskKey, long NextCheckAt)>> DueKeysAsync(string shard, long dueBy, int limit, CancellationToken cancellationToken)
    {
        var keys = new List<(string, long)>();
        Dictionary<string, AttributeValue>? start = null;
        do
        {
            var response = await Call(c => dynamo.QueryAsync(new QueryRequest
            {
                TableName = tableName,
                IndexName = DueIndex,
                KeyConditionExpression = "OpenShard = :shard AND NextCheckAt <= :due",
                ExpressionAttributeValues = new() { [":shard"] = S(shard), [":due"] = N(dueBy) },
                ScanIndexForward = true,
                Limit = limit - keys.Count,
                ExclusiveStartKey = start,
            }, c), cancellationToken).ConfigureAwait(false);
            keys.AddRange((response.Items ?? []).Select(k => (k["TaskKey"].S, long.Parse(k["NextCheckAt"].N, System.Globalization.CultureInfo.InvariantCulture))));
            start = response.LastEvaluatedKey is { Count: > 0 } last ? last : null;
        }
        while (start is not null && keys.Count < limit);
        return keys;
    }

    /// <summary>Strongly consistent reads of up to 100 records in one call; only the unfinished ones.</summary>
    private async Task<IReadOnlyList<TaskRecord>> GetManyAsync(IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        if (keys.Count == 0)
        {
            return [];
        }
        var records = new List<TaskRecord>();
        var pending = new Dictionary<string, KeysAndAttributes>
        {
            [tableName] = new KeysAndAttributes { Keys = keys.Select(Key).ToList(), ConsistentRead = true },
        };
        for (var attempt = 0; pending.Count > 0 && attempt < 5; attempt++)
        {
            var response = await Call(c => dynamo.BatchGetItemAsync(new BatchGetItemRequest { RequestItems = pending }, c), cancellationToken).ConfigureAwait(false);
            records.AddRange((response.Responses?.GetValueOrDefault(tableName) ?? []).Select(FromItem));
            pending = response.UnprocessedKeys is { Count: > 0 } unprocessed ? unprocessed : [];
            if (pending.Count > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50 << attempt), cancellationToken).ConfigureAwait(false);
            }
        }
        return records.Where(r => !r.IsFinished).ToList();
    }

    public async Task<bool> SetResultAsync(string taskKey, string resultJson, CancellationToken cancellationToken = default) =>
        await ConditionalUpdate(taskKey, "SET #r = :result, UpdatedAt = :now",
            new() { ["#r"] = "Result" }, new() { [":result"] = S(resultJson) }, cancellationToken).ConfigureAwait(false);

    public async Task<bool> FinishAsync(string taskKey, RecordEnding ending, CancellationToken cancellationToken = default) =>
        await ConditionalUpdate(taskKey, "SET #s = :status, Reason = :reason, UpdatedAt = :now, ExpiresAt = :expires REMOVE OpenShard, LeaseId, LeaseUntil, AnswerClaimId, AnswerClaimUntil",
            new(),
            new()
            {
                [":status"] = S(ending.Status.ToString()),
                [":reason"] = S(ending.Reason),
                [":expires"] = N(clock.GetUtcNow().Add(finishedRetention).ToUnixTimeSeconds()),
            }, cancellationToken).ConfigureAwait(false);

    private async Task<bool> ConditionalUpdate(string taskKey, string update, Dictionary<string, string> names,
        Dictionary<string, AttributeValue> values, CancellationToken cancellationToken)
    {
        names["#s"] = "Status";
        values[":now"] = N(Now);
        values[":submitting"] = S(nameof(RecordStatus.Submitting));
        values[":submitted"] = S(nameof(RecordStatus.Submitted));
        try
        {
            await Call(c => dynamo.UpdateItemAsync(new UpdateItemRequest
            {
                TableName = tableName,
                Key = Key(taskKey),
                UpdateExpression = update,
                ConditionExpression = Open,
                ExpressionAttributeNames = names,
                ExpressionAttributeValues = values,
            }, c), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (ConditionalCheckFailedException)
        {
            return false;
        }
    }

    private long Now => clock.GetUtcNow().ToUnixTimeMilliseconds();
}
