namespace BatchSync.Domain;

/// <summary>
/// What Step Functions takes in a task answer (its API model: SendTaskSuccess <c>output</c> ≤ 262,144 bytes,
/// SendTaskFailure <c>error</c> ≤ 256 and <c>cause</c> ≤ 32,768 characters).
/// </summary>
public static class StepFunctionsLimits
{
    public const int OutputBytes = 262_144;
    public const int CauseChars = 32_768;
    public const int ErrorChars = 256;

    /// <summary>Cuts a free-text error or cause to a limit, marking the cut.</summary>
    public static string Clip(string text, int maxChars) =>
        text.Length <= maxChars ? text : text[..(maxChars - 1)] + "…";

    /// <summary>A SendTaskFailure error and cause as Step Functions takes them.</summary>
    public static (string Error, string Cause) ClipFailure(string error, string cause) => (Clip(error, ErrorChars), Clip(cause, CauseChars));
}
