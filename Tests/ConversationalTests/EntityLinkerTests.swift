import GraphCore
import Testing
@testable import Conversational
@testable import ConversationContent

@Suite struct EntityLinkerTests {
    @Test func displayNamesFromDBpediaIRIs() {
        #expect(EntityLinker.displayName(iri: "<http://dbpedia.org/resource/Hoffa_(film)>") == "Hoffa (film)")
        #expect(EntityLinker.displayName(iri: "<http://dbpedia.org/resource/Andrew_Macdonald_(producer)__PersonFunction__1>") == "Andrew Macdonald (producer)")
        #expect(EntityLinker.displayName(iri: "<http://dbpedia.org/resource/Am%C3%A9lie>") == "Amélie")
    }

    /// ASCII text takes a byte-wise path: it must split exactly as the folding path does.
    @Test func theASCIIPathSplitsAsTheFoldingPathDoes() {
        let texts = ["Knives Out!", "SEEKER: I'd like Schindler's List, or 2001: A Space Odyssey.", "  tabs\tand\r\nnewlines  ",
                     "UPPER lower MiXeD 42nd", "a-b_c.d/e", "", "''", "---", "R2-D2 & C-3PO (1977)"]
        for text in texts {
            #expect(EntityLinker.asciiWords(text) == EntityLinker.foldedWords(text), "\(text)")
        }
        #expect(EntityLinker.asciiWords("Amélie") == nil, "non-ASCII text takes the folding path")
        #expect(EntityLinker.words("Amélie’s café") == ["amelies", "cafe"])
    }

    @Test func wordsAreFoldedAndSplitOnPunctuation() {
        #expect(EntityLinker.words("Knives Out!! (2019), AMÉLIE's") == ["knives", "out", "2019", "amelies"])
        #expect(EntityLinker.words("") == [])
    }

    private var linker: EntityLinker {
        var linker = EntityLinker()
        linker.add(name: "Knives Out (film)", node: 1)
        linker.add(name: "Joker (2019 film)", node: 2)
        linker.add(name: "Rian Johnson", node: 3)
        linker.add(name: "Her (film)", node: 4)
        linker.add(name: "Action film", node: 5)
        linker.add(name: "action", node: 5)  // an alias
        linker.add(name: "Star Wars", node: 6)
        linker.add(name: "Star Wars Episode IV", node: 7)
        linker.add(name: "Amélie", node: 8)
        return linker
    }

    @Test func linksNamesCaseAndPunctuationInsensitively() {
        let links = linker.link("I loved KNIVES OUT!! And Joker, by Rian Johnson? More action please. Her too; amelie was fine.")
        #expect(links.map(\.node) == [1, 2, 3, 5, 8])
        #expect(links.map(\.surface) == ["knives out", "joker", "rian johnson", "action", "amelie"])
    }

    @Test func theLongestMatchWinsAndMatchesDoNotOverlap() {
        #expect(linker.link("star wars episode iv is better than star wars").map(\.node) == [7, 6])
    }

    @Test func commonWordsAndShortNamesAreNotLinkedAlone() {
        var linker = EntityLinker()
        linker.add(name: "Up (2009 film)", node: 1)
        linker.add(name: "It (2017 film)", node: 2)
        linker.add(name: "Her (film)", node: 3)
        linker.add(name: "1917 (2019 film)", node: 4)
        #expect(linker.link("it was up to her in 1917").isEmpty)
        // "Her (film)" has only common words even with its qualifier; the other three keep their full names.
        #expect(linker.phraseCount == 3)
        #expect(linker.link("Up (2009 film)").map(\.node) == [1])
    }
}

@Suite struct ConversationIndexTests {
    /// Unrelated writes keep the index; new entities, aliases, conversations or KG edges make it stale.
    @Test func theIndexIsRebuiltOnlyWhenWhatItReadsChanges() throws {
        var state = GraphState()
        state.apply(try state.planDefineTypes(nodeTypes: [NodeTypeInput(name: "alias")],
                                              edgeTypes: [EdgeTypeInput(name: "kg_genre", directed: false), EdgeTypeInput(name: "alias_of", directed: true)]))
        state.apply(try state.planAddNodes([NodeInput(type: "item", key: "1", text: "Brick (film)"), NodeInput(type: "entity", key: "2", text: "Mystery film")]))
        let index = try ConversationIndex(snapshot: state.snapshot)
        state.apply(try state.planAddEdges([EdgeInput(type: "interacted", source: NodeRefInput(type: "user", key: "u"),
                                                      target: NodeRefInput(type: "item", key: "1"))], requireExistingNodes: false, nowMs: 1))
        #expect(index.isCurrent(for: state.snapshot), "a user and an interaction do not concern the index")
        state.apply(try state.planAddEdges([EdgeInput(type: "alias_of", source: NodeRefInput(type: "alias", key: "whodunit"),
                                                      target: NodeRefInput(type: "entity", key: "2"))], requireExistingNodes: false, nowMs: 1))
        #expect(!index.isCurrent(for: state.snapshot))
        let rebuilt = try ConversationIndex(snapshot: state.snapshot)
        #expect(rebuilt.linker.link("a whodunit").map(\.surface) == ["whodunit"])
        state.apply(try state.planAddEdges([EdgeInput(type: "kg_genre", source: NodeRefInput(type: "item", key: "1"),
                                                      target: NodeRefInput(type: "entity", key: "2"))], requireExistingNodes: false, nowMs: 1))
        #expect(!rebuilt.isCurrent(for: state.snapshot))
        // A past conversation, even one that links nothing, is text the index searches.
        let withGenre = try ConversationIndex(snapshot: state.snapshot)
        state.apply(try state.planAddNodes([NodeInput(type: "conversation", key: "c", text: "SEEKER: anything gritty")]))
        #expect(!withGenre.isCurrent(for: state.snapshot))
    }
}
