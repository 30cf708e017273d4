using System.Net;
using System.Text;
using System.Xml.Linq;
using Amazon.Runtime;
using BatchSync.Aws;

namespace BatchSync.LocalWorld;

/// <summary>SigV4 credentials and who they act as (the answer of an AssumeRole, or of GetCallerIdentity).</summary>
public sealed record AccountCredentials(string Account, string Arn, string AccessKeyId, string SecretAccessKey, string? SessionToken, DateTime? Expiration)
{
    public AWSCredentials ToAws() => SessionToken is null
        ? new BasicAWSCredentials(AccessKeyId, SecretAccessKey)
        : new SessionAWSCredentials(AccessKeyId, SecretAccessKey, SessionToken);

    /// <summary>The variables a process (a function, the playground) needs to act as this account.</summary>
    public IReadOnlyDictionary<string, string?> Environment() => new Dictionary<string, string?>
    {
        ["AWS_ACCESS_KEY_ID"] = AccessKeyId, ["AWS_SECRET_ACCESS_KEY"] = SecretAccessKey, ["AWS_SESSION_TOKEN"] = SessionToken,
    };
}

/// <summary>
/// Accounts in moto. moto takes a request's account from its access key (an AssumeRole mints an ASIA… key in the role
/// ARN's account, whether or not the role exists: /work/notes/moto-spoke-facts.md §a); any other key is 123456789012
/// (<see cref="AwsWorld.Account"/>). So "credentials of account N" are an AssumeRole of a role in N, made directly
/// against moto (not through <see cref="StsGate"/>): the harness's own door into every account.
/// </summary>
public static class Accounts
{
    /// <summary>The role name <see cref="ActAsAsync"/> assumes when none is given (it need not exist in moto).</summary>
    public const string HarnessRole = "LocalWorldHarness";

    /// <summary>Credentials acting as <paramref name="account"/> (as the session of role <paramref name="roleName"/> there).</summary>
    public static Task<AccountCredentials> ActAsAsync(string endpoint, string account, string roleName = HarnessRole, string region = "us-east-1") =>
        Sts.AssumeRoleAsync(endpoint, region, Anyone, $"arn:aws:iam::{account}:role/{roleName}", "LocalWorld");

    /// <summary>A <see cref="SpokeWorld"/> acting as <paramref name="account"/> in <paramref name="region"/>.</summary>
    public static async Task<SpokeWorld> WorldAsync(string endpoint, string account, string region, string roleName = HarnessRole) =>
        new(endpoint, region, await ActAsAsync(endpoint, account, roleName, region));

    /// <summary>Credentials of no account in particular (moto: 123456789012), as the credential chain gives them.</summary>
    public static AWSCredentials Anyone => Amazon.Runtime.Credentials.DefaultAWSCredentialsIdentityResolver.GetCredentials();
}

/// <summary>
/// STS's Query protocol, signed with SigV4 (no AWSSDK.SecurityToken: BatchSync pins AWSSDK.Core 4.1.0). Errors are
/// <see cref="AwsServiceException"/> with STS's code (AccessDenied, ValidationError...) read from its XML ErrorResponse.
/// </summary>
public static class Sts
{
    /// <summary>The first element named <paramref name="name"/> under <paramref name="root"/>, whatever its namespace.</summary>
    public static XElement? Find(XContainer root, string name) => root.Descendants().FirstOrDefault(e => e.Name.LocalName == name);

    public static async Task<AccountCredentials> AssumeRoleAsync(
        string endpoint, string region, AWSCredentials caller, string roleArn, string sessionName, string? externalId = null, int? durationSeconds = null)
    {
        var form = new List<(string, string)> { ("RoleArn", roleArn), ("RoleSessionName", sessionName) };
        if (externalId is not null)
        {
            form.Add(("ExternalId", externalId));
        }
        if (durationSeconds is { } seconds)
        {
            form.Add(("DurationSeconds", seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        var result = await QueryAsync(endpoint, region, caller, "sts", "AssumeRole", "2011-06-15", form);
        var credentials = Find(result, "Credentials")!;
        var arn = Find(Find(result, "AssumedRoleUser")!, "Arn")!.Value;
        return new AccountCredentials(
            arn.Split(':')[4], arn,
            Find(credentials, "AccessKeyId")!.Value, Find(credentials, "SecretAccessKey")!.Value,
            Find(credentials, "SessionToken")?.Value,
            DateTime.TryParse(Find(credentials, "Expiration")?.Value, null, System.Globalization.DateTimeStyles.AdjustToUniversal, out var expiration) ? expiration : null);
    }

    public static async Task<(string Account, string Arn, string UserId)> GetCallerIdentityAsync(string endpoint, string region, AWSCredentials caller)
    {
        var result = await QueryAsync(endpoint, region, caller, "sts", "GetCallerIdentity", "2011-06-15", []);
        string Field(string name) => Find(result, name)!.Value;
        return (Field("Account"), Field("Arn"), Field("UserId"));
    }

    /// <summary>A Query-protocol call (STS, IAM): form-encoded POST, XML answer; a non-2xx answer throws its Code.</summary>
    public static async Task<XDocument> QueryAsync(
        string endpoint, string region, AWSCredentials credentials, string signingName, string action, string version,
        IEnumerable<(string Name, string Value)> parameters, IReadOnlyDictionary<string, string>? headers = null)
    {
        var body = string.Join("&", new[] { ("Action", action), ("Version", version) }.Concat(parameters)
            .Select(p => $"{Uri.EscapeDataString(p.Item1)}={Uri.EscapeDataString(p.Item2)}"));
        using var http = new HttpClient(new Amazon.Runtime.Signing.SigV4SigningHandler(
            credentials, Amazon.RegionEndpoint.GetBySystemName(region), signingName, new HttpClientHandler())) { Timeout = TimeSpan.FromSeconds(60) };
        using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.TrimEnd('/') + "/")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        XDocument document;
        try
        {
            document = XDocument.Parse(text);
        }
        catch (System.Xml.XmlException)
        {
            throw new AwsServiceException(signingName, action, response.StatusCode, response.IsSuccessStatusCode ? "MalformedAnswer" : "Unknown", text, null);
        }
        if (!response.IsSuccessStatusCode)
        {
            var error = document.Descendants().FirstOrDefault(e => e.Name.LocalName == "Error");
            string? Part(string name) => error?.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
            throw new AwsServiceException(signingName, action, response.StatusCode, Part("Code") ?? ((int)response.StatusCode).ToString(),
                Part("Message"), document.Descendants().FirstOrDefault(e => e.Name.LocalName == "RequestId")?.Value);
        }
        return document;
    }

    public static bool IsAccessDenied(Exception e) => e is AwsServiceException { ErrorCode: "AccessDenied", StatusCode: HttpStatusCode.Forbidden };
}
