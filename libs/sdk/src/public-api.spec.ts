import { join } from 'node:path';
import ts from 'typescript';

/**
 * The SDK is the package users install: what its index exports is its whole
 * API, and each piece of it says what it is for (and, where it throws, what)
 * in the editor's hover and in the declaration file shipped with it.
 */
describe('public API', () => {
  const index = join(__dirname, 'index.ts');
  let checker: ts.TypeChecker;
  let exported: { name: string; symbol: ts.Symbol }[];

  beforeAll(() => {
    const config = ts.getParsedCommandLineOfConfigFile(
      join(__dirname, '..', 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (d) => {
          throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
        },
      },
    )!;
    const program = ts.createProgram([index], { ...config.options, noEmit: true });
    checker = program.getTypeChecker();
    const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(index)!)!;
    exported = checker.getExportsOfModule(moduleSymbol).map((symbol) => ({
      name: symbol.name,
      symbol: symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol,
    }));
  });

  const documented = (node: ts.Node) => ts.getJSDocCommentsAndTags(node).length > 0;

  test('every export of @baton/sdk carries TSDoc', () => {
    expect(exported.length).toBeGreaterThan(20);
    const bare = exported
      .filter(({ symbol }) => ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() === '')
      .map(({ name }) => name);
    expect(bare).toEqual([]);
  });

  test('every public member of an exported class carries TSDoc', () => {
    const bare: string[] = [];
    for (const { name, symbol } of exported) {
      for (const declaration of symbol.declarations ?? []) {
        if (!ts.isClassDeclaration(declaration)) continue;
        for (const member of declaration.members) {
          if (!isPublicApi(declaration, member)) continue;
          if (!documented(member)) bare.push(`${name}.${member.name!.getText()}`);
        }
      }
    }
    expect(bare).toEqual([]);
  });
});

/**
 * A member users see: not private, protected or #private; not a constructor
 * (the class's own TSDoc covers it); not an override (it inherits the base's);
 * and for an overloaded method, its overloads rather than the implementation,
 * which callers never see.
 */
function isPublicApi(owner: ts.ClassDeclaration, member: ts.ClassElement): boolean {
  if (ts.isConstructorDeclaration(member) || !member.name || ts.isPrivateIdentifier(member.name)) return false;
  const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected | ts.ModifierFlags.Override)) return false;
  if (ts.isMethodDeclaration(member) && member.body) {
    const overloads = owner.members.filter(
      (m) => ts.isMethodDeclaration(m) && !m.body && m.name.getText() === member.name.getText(),
    );
    return overloads.length === 0;
  }
  return true;
}
