using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Operations;
using TorchSharp;

namespace AlisaCluster.GpuWorker.Tests;

/// <summary>TorchSharp turns numbers into native Scalars that nothing keeps alive during the native call (a GC on another
/// thread can free them mid-call), both where our code converts a number and inside some of TorchSharp's own methods.
/// <see cref="Scalars"/> avoids them; this test keeps it so: it lists TorchSharp's hazardous methods from their IL and
/// reads our sources with Roslyn for calls to them and for conversions of numbers to Scalars.</summary>
public sealed class ScalarsTests
{
    private static readonly string[] Sources = ["src/GpuWorker", "src/Cli", "tests/GpuWorker.Tests", "tests/Cli.Tests"];

    [Fact]
    public void NoCodeLetsTorchSharpMakeAScalarItDoesNotKeepAlive()
    {
        var hazards = HazardousMethods();
        Assert.Contains("Tensor.op_Addition(Tensor,Tensor)", hazards); // a + b: add(b) passes an implicit alpha of 1
        Assert.Contains("Tensor.square()", hazards);
        Assert.DoesNotContain("Tensor.sub(Tensor)", hazards);

        var root = RepositoryRoot();
        var trees = Sources.SelectMany(d => Directory.GetFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), new CSharpParseOptions(LanguageVersion.Preview), Path.GetRelativePath(root, f)))
            .ToList();
        var references = Directory.GetFiles(AppContext.BaseDirectory, "*.dll")
            .Concat(((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator))
            .GroupBy(Path.GetFileName).Select(g => MetadataReference.CreateFromFile(g.First()));
        // unresolved names (Cli's packages, source generators) leave the tensor code bound, which is all this reads
        var compilation = CSharpCompilation.Create("scan", trees, references, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));

        var found = new List<string>();
        foreach (var tree in trees.Where(t => Path.GetFileName(t.FilePath) != "Scalars.cs"))
        {
            var model = compilation.GetSemanticModel(tree);
            // an argument's implicit conversion has no operation of its own syntax: ask for it per expression
            foreach (var expression in tree.GetRoot().DescendantNodes().OfType<Microsoft.CodeAnalysis.CSharp.Syntax.ExpressionSyntax>())
                if (model.GetConversion(expression) is { IsUserDefined: true, IsImplicit: true } && model.GetTypeInfo(expression) is { ConvertedType.Name: "Scalar", Type: { Name: not "Scalar" } })
                    found.Add($"{tree.FilePath}:{expression.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: a number converted to a Scalar: {expression}");
            foreach (var operation in tree.GetRoot().DescendantNodes().Select(n => model.GetOperation(n)).OfType<IOperation>().Distinct())
            {
                string? what = operation switch
                {
                    IInvocationOperation i when IsHazard(i.TargetMethod) => Key(i.TargetMethod),
                    IBinaryOperation { OperatorMethod: { } m } when IsHazard(m) => Key(m),
                    ICompoundAssignmentOperation { OperatorMethod: { } m } when IsHazard(m) => Key(m),
                    _ => null,
                };
                if (what is not null)
                    found.Add($"{tree.FilePath}:{operation.Syntax.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: {what}: {operation.Syntax}");
            }
        }
        Assert.True(found.Count == 0, "use Scalars.Of / Scalars.One / Scalars.Arange / x * x instead:\n" + string.Join("\n", found.Distinct()));

        bool IsHazard(IMethodSymbol m) => m.ContainingNamespace?.ToString()?.StartsWith("TorchSharp") == true && hazards.Contains(Key(m.OriginalDefinition));
    }

    private static string TypeName(ITypeSymbol t) => t is IArrayTypeSymbol a ? TypeName(a.ElementType) + "[]" : t.MetadataName;
    private static string Key(IMethodSymbol m) => $"{m.ContainingType.MetadataName}.{m.Name}({string.Join(",", m.Parameters.Select(p => TypeName(p.Type)))})";
    private static string Key(MethodBase m) => $"{m.DeclaringType!.Name}.{m.Name}({string.Join(",", m.GetParameters().Select(p => p.ParameterType.Name))})";

    /// <summary>TorchSharp's public methods whose IL converts a number to a Scalar outside a try/finally (no using), and
    /// the methods that call those.</summary>
    private static HashSet<string> HazardousMethods()
    {
        var assembly = typeof(torch).Assembly;
        var calls = new Dictionary<MethodBase, List<MethodBase>>();
        var hazards = new HashSet<MethodBase>();
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var type in assembly.GetTypes())
            foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
            {
                MethodBody? body;
                try { body = method.GetMethodBody(); } catch (Exception) { continue; }
                if (body?.GetILAsByteArray() is not { } il) continue;
                var callees = calls[method] = [];
                for (int at = 0; at + 4 < il.Length; at++)
                {
                    if (il[at] != 0x28 && il[at] != 0x6F) continue; // call, callvirt
                    int token = BitConverter.ToInt32(il, at + 1);
                    if (((token >> 24) & 0xFF) is not (0x0A or 0x06 or 0x2B)) continue; // member ref, method def, method spec
                    MethodBase? callee;
                    try { callee = method.Module.ResolveMethod(token, type.IsGenericType ? type.GetGenericArguments() : null, method.IsGenericMethod ? method.GetGenericArguments() : null); }
                    catch (Exception) { continue; }
                    if (callee is null) continue;
                    callees.Add(callee);
                    if (body.ExceptionHandlingClauses.Count == 0 && callee is MethodInfo { Name: "op_Implicit" or "ToScalar", ReturnType.Name: "Scalar" } convert
                        && convert.GetParameters().FirstOrDefault()?.ParameterType.IsPrimitive == true)
                        hazards.Add(method);
                }
            }
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var (method, callees) in calls)
                if (!hazards.Contains(method) && callees.Any(hazards.Contains)) grew = hazards.Add(method) || grew;
        }
        return hazards.Where(m => m.Name != "op_Implicit").Select(Key).ToHashSet();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "AlisaCluster.sln"))) return dir.FullName;
        throw new InvalidOperationException("AlisaCluster.sln not found above " + AppContext.BaseDirectory);
    }
}
