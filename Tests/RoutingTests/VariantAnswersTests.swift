import GraphCore
import MessagePassing
import Testing
@testable import Routing

@Suite struct ChoiceQuestionTests {
    @Test func readsTheLastBlocksStemAndOptions() throws {
        let prompt = """
            Please answer with the letter of the correct answer.

            Ian ate Dennis's menudo because _ enjoyed eating intestine.
            A) Ian
            B) Dennis
            Answer:
            B

            The drink was rich in caffeine because the _ was  enough to keep the drinker awake.
            A) caffeine
            B)   Sugar
            Print only a single choice from "A" or "B" without explanation. Answer:
            """
        let question = try #require(ChoiceQuestion(parsing: prompt))
        #expect(question.options == ["caffeine", "sugar"])
        #expect(question.stem == "the drink was rich in caffeine because the _ was enough to keep the drinker awake.")
        #expect(question.stemWords.contains("drinker") && !question.stemWords.contains("dennis"))
        #expect(question.stemWords == question.stemWords.sorted())

        let parenthesised = try #require(ChoiceQuestion(parsing: "Which is a gas?\n(A) iron\n(B) helium\n(C) salt"))
        #expect(parenthesised.options == ["iron", "helium", "salt"])
        let dotted = try #require(ChoiceQuestion(parsing: "Pick one.\nA. red\nB. blue"))
        #expect(dotted.options == ["red", "blue"])
    }

    @Test func asciiAndGeneralPathsReadTextAlike() {
        // The same text with one non-ASCII letter added takes the general path.
        for text in ["Zoë met Ann\tat  9:30 -- why?", "  MIXED case\r\nwords_and 42x  ", "a", ""] {
            let ascii = ChoiceQuestion(stem: text, options: ["One  Two", "x"])
            let general = ChoiceQuestion(stem: text + " é", options: ["One  Two", "x"])
            #expect(general.stem == ascii.stem + (ascii.stem.isEmpty ? "é" : " é"), "\(text.debugDescription)")
            #expect(Set(general.stemWords) == Set(ascii.stemWords + ["é"]), "\(text.debugDescription)")
            #expect(ascii.options == ["one two", "x"])
        }
    }

    @Test func textWithoutLetteredOptionsIsNoQuestion() {
        #expect(ChoiceQuestion(parsing: "Write a function to reverse a list.") == nil)
        #expect(ChoiceQuestion(parsing: "Only one option here:\nA) yes") == nil)
        // Letters must run from A in order.
        #expect(ChoiceQuestion(parsing: "Odd lettering\nB) one\nC) two") == nil)
        #expect(ChoiceQuestion(parsing: "") == nil)
        // The options of an earlier block do not count.
        #expect(ChoiceQuestion(parsing: "Q?\nA) x\nB) y\n\nNow write a poem.") == nil)
        // Blank lines after the question end no block.
        #expect(ChoiceQuestion(parsing: "Intro\n\nQ?\r\nA) x\r\nB) y\n\n  \n")?.options == ["x", "y"])
    }

    @Test func answersNameAnOptionByLetterOrText() throws {
        let question = try #require(ChoiceQuestion(parsing: "Who was kind?\nA) Ian\nB) Dennis"))
        for (answer, option) in [("B", 1), ("B\n", 1), (" (A)", 0), ("A) Ian", 0), ("B.", 1), ("B: Dennis", 1), ("dennis", 1), ("Ian ", 0)] {
            #expect(question.option(namedBy: answer) == option, "answer \(answer.debugDescription)")
        }
        for answer in ["C", "A questioning tone", "I do not know", "", "Both", "(A", "AB"] {
            #expect(question.option(namedBy: answer) == nil, "answer \(answer.debugDescription)")
        }
    }
}

/// Twin questions whose one changed word flips the right option when `flips`
/// (as in Winogrande), or keeps it (a question asked in other words). "left"
/// always answers A, "right" always B, both cheap; "strong" is right seven
/// times in ten and dear. The options' order is swapped in every third twin.
/// The first `heldOut` pairs keep only their first question in the graph; their
/// twins are returned with their right options. With `sharedOptions` every
/// question offers "first" and "second" (standing for Ann and Bob).
func twinGraph(pairs: Int, heldOut: Int = 0, flips: Bool = true,
               sharedOptions: Bool = false) -> (graph: RouterGraph, heldOut: [(ChoiceQuestion, right: Int)]) {
    var g = RouterGraph(dimension: 2)
    g.tasks = [RouterGraph.Task(name: "twins", features: [1, 0])]
    g.llms = [RouterGraph.LLM(name: "left", features: [0, 1]), RouterGraph.LLM(name: "right", features: [1, 1]),
              RouterGraph.LLM(name: "strong", features: [1, -1])]
    var held: [(ChoiceQuestion, right: Int)] = []
    for p in 0..<pairs {
        let names = sharedOptions ? ["first", "second"] : ["ann\(p)", "bob\(p)"]
        // Other pairs share 6 of 14 words (Jaccard 0.43): not variants.
        let stem = "Ann\(p) thanked Bob\(p) for gift\(p) at place\(p) because _ was"
        let first = ChoiceQuestion(stem: stem + " kind", options: names)
        let twinOptions = p % 3 == 0 ? names.reversed() : names
        let twin = ChoiceQuestion(stem: stem + (flips ? " grateful" : " generous"), options: Array(twinOptions))
        let firstRight = p % 2
        let rightText = flips ? names[1 - firstRight] : names[firstRight]
        let twinRight = twin.options.firstIndex(of: rightText)!
        for (k, (question, right)) in [(first, firstRight), (twin, twinRight)].enumerated() {
            if k == 1 && p < heldOut { held.append((question, right)); continue }
            g.queries.append(RouterGraph.Query(task: 0, features: [1, Float(p % 7) / 7], choices: question))
            let q = g.queries.count - 1
            let strongAnswer = p % 10 < 7 ? right : 1 - right
            for (m, chosen) in [0, 1, strongAnswer].enumerated() {
                g.outcomes.append(RouterGraph.Outcome(query: q, llm: m, effect: chosen == right ? 1 : 0,
                                                      cost: m == 2 ? 0.01 : 0.001, answer: chosen))
            }
        }
    }
    return (g, held)
}

@Suite struct VariantAnswerTests {

    @Test(arguments: [true, false])
    func aLabelledVariantTellsWhichLetterIsRight(flips: Bool) throws {
        let (graph, heldOut) = twinGraph(pairs: 40, heldOut: 8, flips: flips)
        let predictor = try ratesOnlyPredictor(graph)
        // The agreement of variants is learned from the graph's own pairs: each
        // question of the 32 whole pairs finds its twin; the 8 lone ones find none.
        let counts = predictor.variants.pairs[0][VariantAnswerModel.Relation.variant.rawValue]
        #expect(counts.total == 2 * 32)
        #expect(counts.agreed == (flips ? 0 : counts.total))
        for (question, right) in heldOut {
            let decision = try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                             choices: question))
            #expect(decision.effectsFromVariant)
            // The LLM that always answers the right letter, cheap and (nearly) sure; not the dear one.
            #expect(decision.ranked.first?.llm == right)
            let effects = Dictionary(uniqueKeysWithValues: decision.ranked.map { ($0.llm, $0.effect) })
            #expect(try #require(effects[right]) > 0.9)
            #expect(try #require(effects[1 - right]) < 0.1)
        }
    }

    @Test func withoutAVariantOrEnoughPairsTheModelDecides() throws {
        let (graph, heldOut) = twinGraph(pairs: 40, heldOut: 8)
        let predictor = try ratesOnlyPredictor(graph)
        let unrelated = ChoiceQuestion(stem: "Carl paid Dora for a lamp because _ was moving", options: ["carl", "dora"])
        let alone = try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                      choices: unrelated))
        #expect(!alone.effectsFromVariant)
        #expect(alone.ranked.first?.llm == 2, "the strong LLM has the best rate")
        #expect(try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                  choices: heldOut[0].0)).effectsFromVariant)
        // Four whole pairs (eight questions that find a twin) are too few to say how variants' answers relate.
        let (small, smallHeldOut) = twinGraph(pairs: 5, heldOut: 1)
        let few = try ratesOnlyPredictor(small)
        #expect(try few.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                            choices: smallHeldOut[0].0)).effectsFromVariant == false)
    }

    @Test func manyQuestionsWithTheSameOptionsAreSearchedByTheirRarestWords() throws {
        let (graph, heldOut) = twinGraph(pairs: 60, heldOut: 8, sharedOptions: true)
        let predictor = try ratesOnlyPredictor(graph)
        let group = try #require(predictor.variants.groups.values.first)
        #expect(predictor.variants.groups.count == 1 && group.members.count == 112 && !group.byPrefixWord.isEmpty)
        // Each whole pair's questions find each other and nothing else.
        #expect(predictor.variants.pairs[0][VariantAnswerModel.Relation.variant.rawValue].total == 2 * 52)
        for (question, right) in heldOut {
            let decision = try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                             choices: question))
            #expect(decision.effectsFromVariant && decision.ranked.first?.llm == right)
        }
    }

    @Test func aQuestionAskedAgainIsNotItsOwnVariant() throws {
        // The graph holds no question twice, so "asked again" has no pairs to learn
        // from: the twin decides, and the right option of the question itself comes out.
        let (graph, _) = twinGraph(pairs: 40)
        let predictor = try ratesOnlyPredictor(graph)
        for q in [0, 1, 2, 3] {
            let question = try #require(graph.queries[q].choices)
            let right = try #require(graph.outcomes.first { $0.query == q && $0.effect == 1 && $0.llm < 2 }).llm
            let decision = try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                             choices: question))
            #expect(decision.effectsFromVariant)
            #expect(decision.ranked.first?.llm == right)
        }
    }

    @Test func answersThatNameNoOptionLabelNothing() throws {
        var (graph, heldOut) = twinGraph(pairs: 40, heldOut: 8)
        for i in graph.outcomes.indices { graph.outcomes[i].answer = nil }
        let predictor = try ratesOnlyPredictor(graph)
        #expect(predictor.variants.labelled.isEmpty)
        #expect(try predictor.route(RouteQuestion(features: [1, 0], task: 0, objective: .weights(performance: 1, cost: 0),
                                                  choices: heldOut[0].0)).effectsFromVariant == false)
    }
}
