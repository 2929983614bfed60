import Routing
import Testing

@Suite struct QueryTextFocusTests {
    @Test func lastBlockIsTheQuestionAfterTheExamples() {
        let prompt = "Q: 2+2?\nA: 4\n\nQ: 3+3?\nA: 6\n\n  Q: 5+5?\n  (show work)\nA:\n"
        #expect(QueryTextFocus.lastBlock.identifyingText(prompt) == "Q: 5+5?\n  (show work)\nA:")
        #expect(QueryTextFocus.full.identifyingText(prompt) == prompt)
    }

    @Test func aLineOfWhitespaceSeparatesBlocks() {
        #expect(QueryTextFocus.lastBlock.identifyingText("example\n \t\nquestion\r\n") == "question")
        #expect(QueryTextFocus.lastBlock.identifyingText("example\n\n\n\nquestion\n\n\n") == "question")
    }

    @Test func aPromptWithoutBlankLinesIsKeptWhole() {
        #expect(QueryTextFocus.lastBlock.identifyingText("  one line\nand another ") == "one line\nand another")
        #expect(QueryTextFocus.lastBlock.identifyingText("é\n\nçà ü") == "çà ü")
    }

    @Test func whitespaceOnlyHasNoIdentifyingText() {
        #expect(QueryTextFocus.lastBlock.identifyingText("") == "")
        #expect(QueryTextFocus.lastBlock.identifyingText(" \n\n\t\n") == "")
    }

    /// The multiple-choice reader sees the same block.
    @Test func choiceQuestionsAreReadFromTheSameBlock() throws {
        let prompt = "Which is red?\nA) sky\nB) blood\nAnswer: B\n\nWhich is green?\nA) grass\nB) snow\nAnswer:"
        let question = try #require(ChoiceQuestion(parsing: prompt))
        let focused = try #require(ChoiceQuestion(parsing: QueryTextFocus.lastBlock.identifyingText(prompt)))
        #expect(question == focused && question.options == ["grass", "snow"] && question.stem == "which is green?")
    }
}
