import Testing
@testable import Conversational

@Suite struct ConversationTextIndexTests {
    private let index = ConversationTextIndex(documents: [
        (node: 10, text: "SEEKER: I want something scary tonight.\nRECOMMENDER: A haunted house film, then?"),
        (node: 11, text: "SEEKER: Something funny for my kids.\nRECOMMENDER: An animated film they will love."),
        (node: 12, text: "SEEKER: Scary but funny, a haunted comedy.\nRECOMMENDER: Try a zombie comedy."),
        (node: 13, text: "RECOMMENDER: Hello!\nSEEKER: Any documentary about space?"),
    ])

    @Test func theConversationSharingTheRarestWordsComesFirst() {
        let hits = index.similar(to: "Something scary, maybe a haunted house", limit: 10)
        #expect(hits.map(\.node).prefix(2) == [10, 12])
        #expect(hits.allSatisfy { $0.similarity > 0 && $0.similarity <= 1.0001 })
        #expect(zip(hits, hits.dropFirst()).allSatisfy { $0.similarity >= $1.similarity }, "best first")
        #expect(index.similar(to: "Something scary, maybe a haunted house", limit: 1).map(\.node) == [10])
    }

    @Test func wordsInOneConversationOnlyAndRoleLabelsAreNotIndexed() {
        // "documentary" and "space" occur in one conversation: too rare to be a word of the index.
        #expect(index.similar(to: "a documentary about space", limit: 5).allSatisfy { $0.node != 13 })
        // Every stored line starts with a role label; a dialogue that says only the labels matches nothing.
        #expect(index.similar(to: "seeker recommender", limit: 5).isEmpty)
        #expect(index.similar(to: "", limit: 5).isEmpty)
        #expect(index.similar(to: "scary", limit: 0).isEmpty)
        #expect(ConversationTextIndex(documents: []).similar(to: "scary", limit: 5).isEmpty)
    }

    @Test func storedLinesLoseTheirRoleLabelOnly() {
        #expect(ConversationTextIndex.words(ofStoredText: "SEEKER: Knives Out!\nRECOMMENDER: Note: it's long\nno label here")
            == ["knives", "out", "note", "its", "long", "no", "label", "here"])
    }
}
