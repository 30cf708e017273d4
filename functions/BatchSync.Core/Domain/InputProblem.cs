namespace BatchSync.Domain;

/// <summary>One thing wrong with a request, located by its path (e.g. <c>ContainerOverrides.Environment[0].Name</c>).</summary>
public sealed record InputProblem(string Path, string Message)
{
    public override string ToString() => Path.Length == 0 ? Message : $"{Path}: {Message}";

    public static string Describe(IReadOnlyList<InputProblem> problems) => string.Join("; ", problems);
}
