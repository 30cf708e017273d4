using System.Text.Json;
using System.Text.Json.Nodes;

namespace BatchSync.Domain;

/// <summary>
/// What a task opted into with the payload's <c>BatchSync</c> member, beyond the native answers: typed failure names
/// (BatchSync.Failures' FailureClassifier), a user map from exit codes to names, console/log links, the last lines of the
/// failed attempt's log (<c>LogTail</c>), and an array parent's summary of its children (<c>ArraySummary</c>). Kept on the record as
/// compact JSON (<see cref="ToJson"/>); never sent to Batch. Without the member the answers are the native ones.
/// </summary>
public sealed record TaskOptions(bool TypedErrors, bool Links, IReadOnlyDictionary<int, string> ExitCodes, int LogTail = 0, bool ArraySummary = false)
{
    /// <summary>An array parent whose failed children are at most this many succeeds (with its summary).</summary>
    public int? ToleratedFailureCount { get; init; }
    /// <summary>An array parent whose failed children are at most this share of its size (0-100) succeeds.</summary>
    public double? ToleratedFailurePercentage { get; init; }

    /// <summary>The most log lines a failure's answer carries (<c>LogTail</c>).</summary>
    public const int MaxLogTail = 100;
    public const string Member = "BatchSync";
    public const int MaxErrorNameLength = 256;
    public const int MaxExitCodes = 50;
    /// <summary>Batch's largest array (ArrayProperties.Size).</summary>
    public const int MaxArraySize = 10_000;

    private static readonly string[] Known = ["ArraySummary", "ExitCodes", "Links", "LogTail", "ToleratedFailureCount", "ToleratedFailurePercentage", "TypedErrors"];

    /// <summary>Canonical compact JSON: members sorted, false and empty ones left out.</summary>
    public string ToJson()
    {
        var o = new JsonObject();
        if (ArraySummary)
        {
            o["ArraySummary"] = true;
        }
        if (ExitCodes.Count > 0)
        {
            var codes = new JsonObject();
            foreach (var (code, name) in ExitCodes.OrderBy(e => e.Key))
            {
                codes[code.ToString(System.Globalization.CultureInfo.InvariantCulture)] = name;
            }
            o["ExitCodes"] = codes;
        }
        if (Links)
        {
            o["Links"] = true;
        }
        if (LogTail > 0)
        {
            o["LogTail"] = LogTail;
        }
        if (ToleratedFailureCount is { } count)
        {
            o["ToleratedFailureCount"] = count;
        }
        if (ToleratedFailurePercentage is { } percentage)
        {
            o["ToleratedFailurePercentage"] = percentage;
        }
        if (TypedErrors)
        {
            o["TypedErrors"] = true;
        }
        return JsonText.ToText(o);
    }

    /// <summary>The options kept on a record; null when the task opted into nothing (or the text is not ours).</summary>
    public static TaskOptions? FromJson(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(json);
            var problems = new List<InputProblem>();
            return Read(doc.RootElement, problems) is { } options && problems.Count == 0 ? options : null;
        }
        catch (JsonException)
        {
            // Not written by this version: answer natively rather than fail every delivery.
            return null;
        }
    }

    /// <summary>
    /// Validates the payload's <c>BatchSync</c> value, adding each problem (path <c>BatchSync.…</c>) to
    /// <paramref name="problems"/>; the options when there are none.
    /// </summary>
    public static TaskOptions? Read(JsonElement value, List<InputProblem> problems)
    {
        var before = problems.Count;
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new InputProblem(Member, $"must be an object such as {{\"TypedErrors\": true, \"Links\": true}}, not {JsonInput.Describe(value)}"));
            return null;
        }
        bool typed = false, links = false, array = false;
        var tail = 0;
        int? toleratedCount = null;
        double? toleratedPercentage = null;
        var codes = new Dictionary<int, string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in value.EnumerateObject())
        {
            var path = $"{Member}.{property.Name}";
            if (!seen.Add(property.Name))
            {
                problems.Add(new InputProblem(path, "is given more than once"));
                continue;
            }
            switch (property.Name)
            {
                case "TypedErrors":
                    typed = Flag(property.Value, path, problems);
                    break;
                case "Links":
                    links = Flag(property.Value, path, problems);
                    break;
                case "ArraySummary":
                    array = Flag(property.Value, path, problems);
                    break;
                case "ToleratedFailureCount":
                    toleratedCount = ToleratedCount(property.Value, path, problems);
                    break;
                case "ToleratedFailurePercentage":
                    toleratedPercentage = ToleratedPercentage(property.Value, path, problems);
                    break;
                case "ExitCodes":
                    ReadExitCodes(property.Value, path, codes, problems);
                    break;
                case "LogTail":
                    tail = LogTailLines(property.Value, path, problems) ?? tail;
                    break;
                default:
                    problems.Add(new InputProblem(path, UnknownMember(property.Name)));
                    break;
            }
        }
        if (codes.Count > 0 && !typed && problems.Count == before)
        {
            problems.Add(new InputProblem($"{Member}.ExitCodes", "names errors only with \"TypedErrors\": true"));
        }
        if ((toleratedCount is not null || toleratedPercentage is not null) && !array && problems.Count == before)
        {
            problems.Add(new InputProblem($"{Member}.{(toleratedCount is not null ? "ToleratedFailureCount" : "ToleratedFailurePercentage")}",
                "applies only with \"ArraySummary\": true (the failed children are counted from it)"));
        }
        return problems.Count == before
            ? new TaskOptions(typed, links, codes, tail, array) { ToleratedFailureCount = toleratedCount, ToleratedFailurePercentage = toleratedPercentage }
            : null;
    }

    private static int? ToleratedCount(JsonElement value, string path, List<InputProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var count) && count is >= 0 and <= MaxArraySize)
        {
            return count;
        }
        problems.Add(new InputProblem(path, $"must be a whole number from 0 to {MaxArraySize}, not {Shown(value)}"));
        return null;
    }

    private static double? ToleratedPercentage(JsonElement value, string path, List<InputProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.GetDouble() is >= 0 and <= 100 and var share)
        {
            return share;
        }
        problems.Add(new InputProblem(path, $"must be a number from 0 to 100, not {Shown(value)}"));
        return null;
    }

    private static int? LogTailLines(JsonElement value, string path, List<InputProblem> problems)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var lines) && lines is >= 1 and <= MaxLogTail)
        {
            return lines;
        }
        problems.Add(new InputProblem(path, $"must be a whole number of lines from 1 to {MaxLogTail}, not {(value.ValueKind == JsonValueKind.Number ? value.GetRawText() : JsonInput.Describe(value))}"));
        return null;
    }

    private static bool Flag(JsonElement value, string path, List<InputProblem> problems)
    {
        if (value.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return value.ValueKind == JsonValueKind.True;
        }
        problems.Add(new InputProblem(path, $"must be true or false, not {JsonInput.Describe(value)}"));
        return false;
    }

    private static void ReadExitCodes(JsonElement value, string path, Dictionary<int, string> codes, List<InputProblem> problems)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new InputProblem(path, $"must be an object of exit code/error name pairs such as {{\"3\": \"Model.Diverged\"}}, not {JsonInput.Describe(value)}"));
            return;
        }
        var count = 0;
        foreach (var entry in value.EnumerateObject())
        {
            var entryPath = $"{path}.{entry.Name}";
            count++;
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code)
                || code is < 1 or > 255 || entry.Name != code.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                problems.Add(new InputProblem(entryPath, "must be an exit code from 1 to 255, written plainly (\"3\", not \"03\" or \"three\")"));
                continue;
            }
            if (codes.ContainsKey(code))
            {
                problems.Add(new InputProblem(entryPath, "is given more than once"));
                continue;
            }
            if (entry.Value.ValueKind != JsonValueKind.String)
            {
                problems.Add(new InputProblem(entryPath, $"must be an error name (a string), not {JsonInput.Describe(entry.Value)}"));
                continue;
            }
            var name = entry.Value.GetString()!;
            if (name.Length is 0 or > MaxErrorNameLength)
            {
                problems.Add(new InputProblem(entryPath, $"must be 1 to {MaxErrorNameLength} characters (is {name.Length})"));
            }
            else if (name.StartsWith("States.", StringComparison.Ordinal))
            {
                problems.Add(new InputProblem(entryPath, "must not begin with \"States.\" (Step Functions reserves those names)"));
            }
            else
            {
                codes[code] = name;
            }
        }
        if (count > MaxExitCodes)
        {
            problems.Add(new InputProblem(path, $"must have at most {MaxExitCodes} entries (has {count})"));
        }
    }

    private static string Shown(JsonElement value) => value.ValueKind == JsonValueKind.Number ? value.GetRawText() : JsonInput.Describe(value);

    private static string UnknownMember(string name)
    {
        var suggestion = Known
            .Select(known => (known, distance: Spelling.Distance(name.ToLowerInvariant(), known.ToLowerInvariant())))
            .Where(c => c.distance <= Math.Max(2, name.Length / 4))
            .OrderBy(c => c.distance).ThenBy(c => c.known, StringComparer.Ordinal)
            .Select(c => c.known)
            .FirstOrDefault();
        return suggestion is null
            ? $"unknown member (expected one of: {string.Join(", ", Known)})"
            : $"unknown member (did you mean {suggestion}?)";
    }
}
