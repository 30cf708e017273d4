using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.Runtime;

namespace BatchSync.LocalWorld;

/// <summary>
/// STS as AWS refuses, in front of moto, which refuses nothing. A loopback HTTP/1.1 proxy (127.0.0.1, a free port) that
/// forwards every request to moto unchanged, except STS <c>AssumeRole</c> (Query protocol: <c>Action=AssumeRole</c> in the
/// form body or query string), which it answers itself with AWS's
/// <c>403 AccessDenied</c> "User: &lt;caller&gt; is not authorized to perform: sts:AssumeRole on resource: &lt;role&gt;"
/// unless all of these hold (then the request goes on to moto, which mints credentials of the role's account):
/// <list type="bullet">
/// <item>the role exists in moto's IAM of the role's account (GetRole with <c>x-moto-account-id</c>);</item>
/// <item>its trust policy has an Allow statement for <c>sts:AssumeRole</c> (or <c>sts:*</c>, <c>*</c>) whose Principal
/// <c>AWS</c> names the caller: <c>*</c>, the caller's account id, <c>arn:…:iam::&lt;account&gt;:root</c>, the caller's role
/// ARN or its session ARN; and every condition holds: <c>StringEquals</c>/<c>StringLike</c>/<c>ArnEquals</c>/<c>ArnLike</c>
/// on <c>sts:ExternalId</c> (the request's ExternalId; absent = no match),
/// <c>aws:PrincipalArn</c> (the caller's role ARN, <c>arn:…:iam::&lt;account&gt;:role/&lt;name&gt;</c>, for a role
/// session) or <c>aws:PrincipalAccount</c>; an operator or key not listed here fails the statement (strict);</item>
/// <item>no Deny statement matches the same way, and the role is not <see cref="Deny"/>-ed here.</item>
/// </list>
/// AWS answers the same AccessDenied for a missing role, an untrusted caller and a wrong ExternalId, and so does the gate
/// (<see cref="Decisions"/> tells the tests which it was). It also checks DurationSeconds as STS does: below 900, above
/// the role's MaxSessionDuration, or above 3600 when the caller is itself a role session ("role chaining") →
/// <c>400 ValidationError</c>.
/// Sources: IAM User Guide, "How to use trust policies with IAM roles" and "Access to AWS accounts owned by third
/// parties" (sts:ExternalId in the trust policy's Condition; AssumeRole fails when it does not match), "IAM JSON policy
/// elements: Principal" (account id = its root), "AWS global condition context keys" (aws:PrincipalArn is the role ARN
/// for a role session), STS API reference AssumeRole (DurationSeconds 900..MaxSessionDuration, 1 h when chaining; error
/// AccessDenied / ValidationError). moto checks none of this (/work/notes/moto-spoke-facts.md §a, §e).
/// Not modelled: the caller's own identity policy (sts:AssumeRole allowed on the role; moto enforces no identity
/// policies), NotPrincipal/NotAction, session policies and tags, SCPs, aws:PrincipalOrgID.
/// </summary>
public sealed class StsGate : IDisposable
{
    private readonly TcpListener _listener;
    private readonly Uri _target;
    private readonly HttpClient _upstream = new(new HttpClientHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(100) };
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Counts> _counts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTime> _denied = new(StringComparer.Ordinal);

    public StsGate(string motoEndpoint)
    {
        _target = new Uri(motoEndpoint.TrimEnd('/') + "/");
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptAsync);
    }

    public int Port { get; }
    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Every AssumeRole the gate saw, in order, with its outcome and why (AWS would not say why).</summary>
    public ConcurrentQueue<Decision> Decisions { get; } = new();

    /// <summary>AssumeRole calls for this role ARN (granted or not).</summary>
    public int Calls(string roleArn) => _counts.TryGetValue(roleArn, out var c) ? Volatile.Read(ref c.Calls) : 0;

    /// <summary>AssumeRole calls for this role ARN that were let through to moto.</summary>
    public int Granted(string roleArn) => _counts.TryGetValue(roleArn, out var c) ? Volatile.Read(ref c.Granted) : 0;

    public int Refused(string roleArn) => Calls(roleArn) - Granted(roleArn);

    /// <summary>Refuse this role from now on (for <paramref name="duration"/>, else until <see cref="Allow"/>): "the role was removed".</summary>
    public void Deny(string roleArn, TimeSpan? duration = null) =>
        _denied[roleArn] = duration is { } d ? DateTime.UtcNow + d : DateTime.MaxValue;

    /// <summary>The role is back (its trust policy and existence are checked again as usual).</summary>
    public void Allow(string roleArn) => _denied.TryRemove(roleArn, out _);

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _upstream.Dispose();
    }

    public sealed record Decision(string RoleArn, string Caller, bool Granted, string Reason);

    private sealed class Counts
    {
        public int Calls;
        public int Granted;
    }


    private Task AcceptAsync() => RawHttp.AcceptAsync(_listener, HandleAsync, _stop.Token);

    private Task HandleAsync(TcpClient client) => RawHttp.ServeAsync(client, async (stream, request) =>
    {
        var parameters = QueryParameters(request);
        if (parameters.GetValueOrDefault("Action") == "AssumeRole" && ServiceOf(request.Headers.GetValueOrDefault("Authorization")) is "sts" or "unknown")
        {
            var refusal = await JudgeAsync(request, parameters).ConfigureAwait(false);
            if (refusal is { } answer)
            {
                await RawHttp.WriteAsync(stream, answer.Status, [("Content-Type", "text/xml")], Encoding.UTF8.GetBytes(answer.Body)).ConfigureAwait(false);
                return;
            }
        }
        await RawHttp.RelayAsync(stream, _upstream, _target, request).ConfigureAwait(false);
    });

    /// <summary>null: let it through; otherwise the answer STS would give.</summary>
    private async Task<(int Status, string Body)?> JudgeAsync(RawRequest request, Dictionary<string, string> parameters)
    {
        var roleArn = parameters.GetValueOrDefault("RoleArn") ?? "";
        var counts = _counts.GetOrAdd(roleArn, _ => new Counts());
        Interlocked.Increment(ref counts.Calls);

        var caller = await CallerAsync(request).ConfigureAwait(false);
        (int, string)? Refuse(string reason)
        {
            Decisions.Enqueue(new Decision(roleArn, caller.Arn, false, reason));
            return (403, ErrorXml("AccessDenied", $"User: {caller.Arn} is not authorized to perform: sts:AssumeRole on resource: {roleArn}"));
        }
        (int, string)? Invalid(string message)
        {
            Decisions.Enqueue(new Decision(roleArn, caller.Arn, false, message));
            return (400, ErrorXml("ValidationError", message));
        }

        var role = Regex.Match(roleArn, @"^arn:(?<partition>aws[a-z-]*):iam::(?<account>\d{12}):role/(?:.*/)?(?<name>[^/]+)$");
        if (!role.Success)
        {
            return Invalid($"{roleArn} is invalid");
        }
        if (_denied.TryGetValue(roleArn, out var until) && DateTime.UtcNow < until)
        {
            return Refuse("denied by the gate (Deny)");
        }
        var found = await RoleAsync(role.Groups["account"].Value, role.Groups["name"].Value).ConfigureAwait(false);
        if (found is not { } existing)
        {
            return Refuse("no such role in the role's account");
        }
        if (!string.Equals(existing.Arn, roleArn, StringComparison.Ordinal))
        {
            return Refuse($"the role's ARN is {existing.Arn}");
        }
        var context = new RequestContext(caller.Account, caller.PrincipalArn, caller.Arn, parameters.GetValueOrDefault("ExternalId"));
        var verdict = Evaluate(existing.TrustPolicy, context);
        if (verdict != "allowed")
        {
            return Refuse(verdict);
        }
        if (parameters.TryGetValue("DurationSeconds", out var durationText))
        {
            if (!int.TryParse(durationText, out var duration) || duration < 900)
            {
                return Invalid($"1 validation error detected: Value '{durationText}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900");
            }
            if (caller.IsRoleSession && duration > 3600)
            {
                return Invalid("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
            }
            if (duration > existing.MaxSessionDuration)
            {
                return Invalid("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
            }
        }
        Interlocked.Increment(ref counts.Granted);
        Decisions.Enqueue(new Decision(roleArn, caller.Arn, true, "allowed"));
        return null;
    }

    private sealed record RequestContext(string Account, string PrincipalArn, string SessionArn, string? ExternalId);

    private sealed record Caller(string Account, string Arn, string PrincipalArn, bool IsRoleSession);

    /// <summary>Who signed the request: moto's GetCallerIdentity for the same access key.</summary>
    private async Task<Caller> CallerAsync(RawRequest request)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, _target)
        {
            Content = new StringContent("Action=GetCallerIdentity&Version=2011-06-15", Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        foreach (var name in new[] { "Authorization", "X-Amz-Security-Token", "X-Amz-Date" })
        {
            if (request.Headers.TryGetValue(name, out var value))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }
        using var answer = await _upstream.SendAsync(message).ConfigureAwait(false);
        var document = System.Xml.Linq.XDocument.Parse(await answer.Content.ReadAsStringAsync().ConfigureAwait(false));
        var account = Sts.Find(document, "Account")?.Value ?? AwsWorld.Account;
        var arn = Sts.Find(document, "Arn")?.Value ?? $"arn:aws:iam::{account}:user/unknown";
        // aws:PrincipalArn: a role session's is the role's ARN; a user's is the user's.
        var session = Regex.Match(arn, @"^arn:(?<p>[^:]+):sts::(?<a>\d{12}):assumed-role/(?<role>[^/]+)/");
        if (session.Success)
        {
            return new Caller(account, arn, $"arn:{session.Groups["p"].Value}:iam::{session.Groups["a"].Value}:role/{session.Groups["role"].Value}", true);
        }
        return new Caller(account, arn, Regex.Replace(arn, @"^arn:([^:]+):sts::", "arn:$1:iam::"), false);
    }

    private sealed record Role(string Arn, JsonObject TrustPolicy, int MaxSessionDuration);

    /// <summary>The role as the role's account's IAM has it (moto takes the account from <c>x-moto-account-id</c>).</summary>
    private async Task<Role?> RoleAsync(string account, string name)
    {
        System.Xml.Linq.XDocument answer;
        try
        {
            answer = await Sts.QueryAsync(_target.ToString(), "us-east-1", new BasicAWSCredentials("StsGate", "StsGate"), "iam", "GetRole", "2010-05-08",
                [("RoleName", name)], new Dictionary<string, string> { ["x-moto-account-id"] = account }).ConfigureAwait(false);
        }
        catch (BatchSync.Aws.AwsServiceException e) when (e.StatusCode == HttpStatusCode.NotFound || e.ErrorCode == "NoSuchEntity")
        {
            return null;
        }
        var document = Sts.Find(answer, "AssumeRolePolicyDocument")?.Value ?? "{}";
        if (!document.TrimStart().StartsWith('{'))
        {
            document = Uri.UnescapeDataString(document); // IAM answers the document URL-encoded
        }
        var max = int.TryParse(Sts.Find(answer, "MaxSessionDuration")?.Value, out var m) ? m : 3600;
        return new Role(Sts.Find(answer, "Arn")!.Value, JsonNode.Parse(document)?.AsObject() ?? new JsonObject(), max);
    }

    /// <summary>"allowed", or why not.</summary>
    private static string Evaluate(JsonObject policy, RequestContext context)
    {
        var statements = policy["Statement"] switch
        {
            JsonArray array => array.OfType<JsonObject>().ToList(),
            JsonObject one => [one],
            _ => [],
        };
        var allowed = false;
        var why = "no statement of the trust policy allows this caller";
        foreach (var statement in statements)
        {
            var effect = (string?)statement["Effect"];
            var (applies, reason) = Applies(statement, context);
            if (effect == "Deny" && applies)
            {
                return "an explicit Deny in the trust policy";
            }
            if (effect == "Allow")
            {
                if (applies)
                {
                    allowed = true;
                }
                else if (reason is not null)
                {
                    why = reason;
                }
            }
        }
        return allowed ? "allowed" : why;
    }

    /// <summary>Whether the statement covers this AssumeRole; when the principal matched but a condition failed, which.</summary>
    private static (bool Applies, string? Reason) Applies(JsonObject statement, RequestContext context)
    {
        if (statement.ContainsKey("NotAction") || statement.ContainsKey("NotPrincipal"))
        {
            return (false, null);
        }
        var actions = Values(statement["Action"]);
        if (!actions.Any(a => a.Equals("sts:AssumeRole", StringComparison.OrdinalIgnoreCase) || a == "*" || a.Equals("sts:*", StringComparison.OrdinalIgnoreCase)))
        {
            return (false, null);
        }
        var principal = statement["Principal"];
        var names = principal is JsonValue ? Values(principal) : Values(principal?["AWS"]);
        var partition = context.PrincipalArn.Split(':')[1];
        if (!names.Any(p => p == "*" || p == context.Account || p == $"arn:{partition}:iam::{context.Account}:root"
                || p == context.PrincipalArn || p == context.SessionArn))
        {
            return (false, null);
        }
        if (statement["Condition"] is JsonObject conditions)
        {
            foreach (var (op, block) in conditions)
            {
                if (block is not JsonObject keys)
                {
                    return (false, $"condition {op} is not an object");
                }
                foreach (var (key, expected) in keys)
                {
                    string? actual = key.ToLowerInvariant() switch
                    {
                        "sts:externalid" => context.ExternalId,
                        "aws:principalarn" => context.PrincipalArn,
                        "aws:principalaccount" => context.Account,
                        _ => null,
                    };
                    if (key.ToLowerInvariant() is not ("sts:externalid" or "aws:principalarn" or "aws:principalaccount"))
                    {
                        return (false, $"condition key {key} is not modelled by the gate");
                    }
                    if (op is not ("StringEquals" or "ArnEquals" or "StringEqualsIgnoreCase" or "StringLike" or "ArnLike"))
                    {
                        return (false, $"condition operator {op} is not modelled by the gate");
                    }
                    var wanted = Values(expected);
                    var ok = actual is not null && op switch
                    {
                        "StringEquals" or "ArnEquals" => wanted.Contains(actual, StringComparer.Ordinal),
                        "StringEqualsIgnoreCase" => wanted.Contains(actual, StringComparer.OrdinalIgnoreCase),
                        "StringLike" => wanted.Any(w => Glob(w, actual)),
                        _ => wanted.Any(w => ArnLike(w, actual)),
                    };
                    if (!ok)
                    {
                        return (false, $"condition {op} {key} does not hold (request: {actual ?? "absent"})");
                    }
                }
            }
        }
        return (true, null);
    }

    private static List<string> Values(JsonNode? node) => node switch
    {
        JsonArray array => array.Select(v => v?.ToString() ?? "").ToList(),
        JsonValue value => [value.ToString()],
        _ => [],
    };

    private static bool Glob(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.Singleline);

    /// <summary>ArnLike: each of the six colon-separated parts matched on its own, with * and ?.</summary>
    private static bool ArnLike(string pattern, string arn)
    {
        var p = pattern.Split(':', 6);
        var a = arn.Split(':', 6);
        return p.Length == 6 && a.Length == 6 && p.Zip(a).All(pair => Glob(pair.First, pair.Second));
    }

    private static string ErrorXml(string code, string message) =>
        $"""
        <ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
          <Error>
            <Type>Sender</Type>
            <Code>{code}</Code>
            <Message>{SecurityElement.Escape(message)}</Message>
          </Error>
          <RequestId>{Guid.NewGuid()}</RequestId>
        </ErrorResponse>
        """;

    private static Dictionary<string, string> QueryParameters(RawRequest request)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(string text)
        {
            foreach (var pair in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=');
                var name = Uri.UnescapeDataString((eq < 0 ? pair : pair[..eq]).Replace('+', ' '));
                var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..].Replace('+', ' '));
                result[name] = value;
            }
        }
        var question = request.Path.IndexOf('?');
        if (question >= 0)
        {
            Add(request.Path[(question + 1)..]);
        }
        if (request.Headers.GetValueOrDefault("Content-Type")?.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase) == true)
        {
            Add(Encoding.UTF8.GetString(request.Body));
        }
        return result;
    }

    private static string ServiceOf(string? authorization)
    {
        var start = authorization?.IndexOf("Credential=", StringComparison.Ordinal) ?? -1;
        if (start < 0)
        {
            return "unknown";
        }
        var scope = authorization![(start + "Credential=".Length)..].Split(',')[0].Split('/');
        return scope.Length >= 4 ? scope[3] : "unknown";
    }
}
