//! Jobs with each person's own values from a spreadsheet, against the WeChat simulator on
//! SQLite and PostgreSQL: an .xlsx with bad lines reviewed line by line, the job created without
//! them, each row frozen with its own message and sent once; CSV in GB18030 by unionid and by
//! Mini Program openid; and every refusal leaving nothing behind.

mod common;

use std::time::{Duration, Instant};

use engine::jobs::{JobState, NewJob, RecipientFilter, RecipientState, SkipReason};
use engine::templates::presets::PresetInput;
use engine::testing::TestDb;
use engine::{on_both_databases, Error};
use message::PresetBody;
use model::sheet::PersonColumn;
use model::value::ValueProblem;
use model::{Channel, Problem, RecipientSource};
use rust_xlsxwriter::Workbook;

use common::world::{fast, world, World};
use common::{admin, template_ref, values, Dispatcher};

/// 订单状态通知 with the goods, order number and amount from the file, the url per order.
async fn sheet_preset(w: &World, amount: &str) -> i64 {
    let body = PresetBody {
        url: "https://shop.example.com/o/{{订单号}}".into(),
        ..values(&[
            ("thing1", "{{商品}}"),
            ("character_string2", "{{订单号}}"),
            ("time3", "2023年10月18日 14:30"),
            ("amount4", amount),
            ("const5", "已发货"),
        ])
    };
    let input = PresetInput {
        name: format!("个性化 {amount}"),
        template_ref: template_ref(&w.engine, &w.oa, "订单状态通知").await,
        body,
    };
    w.engine
        .create_preset(&admin(), &w.oa, input)
        .await
        .unwrap()
        .id
}

/// A cell: text or a number, as Excel keeps them.
enum Cell<'a> {
    T(&'a str),
    N(f64),
}

fn xlsx(rows: &[Vec<Cell<'_>>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Cell::T("") => {}
                Cell::T(t) => {
                    sheet.write_string(r, c, *t).unwrap();
                }
                Cell::N(n) => {
                    sheet.write_number(r, c, *n).unwrap();
                }
            }
        }
    }
    book.save_to_buffer().unwrap()
}

fn new_job(sheet: i64, preset: i64) -> NewJob {
    NewJob {
        start_at_ms: None,
        name: "会员积分提醒".into(),
        channel: Channel::Template,
        preset_id: Some(preset),
        mp_preset_id: None,
        source: RecipientSource::Sheet(sheet),
        rate_limit: 0,
    }
}

async fn wait_done(w: &World, job_id: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = w.engine.job_progress(job_id).await.unwrap().unwrap();
        if p.job.state == JobState::Done {
            return;
        }
        assert!(Instant::now() < deadline, "never finished: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn refusal(e: Error) -> (String, Problem) {
    match e {
        Error::Refused(r) => (r.field, r.problem),
        e => panic!("not a refusal: {e:?}"),
    }
}

async fn an_xlsx_is_reviewed_line_by_line_and_each_row_sends_its_own_message(db: TestDb) {
    let w = world(&db).await;
    let f = |i| w.sim.follower_openid(i).unwrap();
    let (f0, f1, f2, f3, f4, f5) = (f(0), f(1), f(2), f(3), f(4), f(5));
    w.sim.unsubscribe(&f4, false).unwrap();
    common::sync_followers(&w.engine, &w.oa).await;
    let stranger = "oStrangerNotAFollower0000000";
    let too_long = "一个名字非常非常长的商品已经超过了二十个字";
    let file = xlsx(&[
        vec![
            Cell::T("openid"),
            Cell::T("商品"),
            Cell::T("订单号"),
            Cell::T("金额"),
            Cell::T("备注"),
        ],
        vec![
            Cell::T(&f0),
            Cell::T("蓝牙耳机"),
            Cell::T("A0001"),
            Cell::T("199.00"),
            Cell::T("x"),
        ],
        vec![
            Cell::T(&f1),
            Cell::T(too_long),
            Cell::T("A0002"),
            Cell::T("5"),
        ],
        vec![
            Cell::T(&f2),
            Cell::T("手机壳"),
            Cell::T("含中文的单号"),
            Cell::T("5"),
        ],
        vec![
            Cell::T(stranger),
            Cell::T("充电线"),
            Cell::T("A0005"),
            Cell::T("5"),
        ],
        vec![
            Cell::T(&f0),
            Cell::T("耳机套"),
            Cell::T("A0006"),
            Cell::T("5"),
        ],
        vec![
            Cell::T(&f3),
            Cell::T("充电器"),
            Cell::T("A0007"),
            Cell::T("很多钱"),
        ],
        vec![
            Cell::T(&f4),
            Cell::T("数据线"),
            Cell::T("A0008"),
            Cell::T("5"),
        ],
        vec![],
        vec![
            Cell::T(&f5),
            Cell::T("音箱"),
            Cell::N(12345.0),
            Cell::N(29.9),
        ],
    ]);
    let sheet = w
        .engine
        .upload_sheet(&w.oa, "admin", "积分.xlsx", &file)
        .await
        .unwrap();
    assert_eq!(sheet.rows, 8, "the blank line is not a row");
    assert_eq!(sheet.person, PersonColumn::Openid);
    assert_eq!(sheet.columns, vec!["商品", "订单号", "金额", "备注"]);
    let preset = sheet_preset(&w, "¥{{金额}}").await;

    let review = w
        .engine
        .review_sheet(&w.oa, sheet.id, preset)
        .await
        .unwrap();
    assert_eq!(review.variables, vec!["商品", "订单号", "金额"]);
    assert!(review.missing_columns.is_empty());
    assert_eq!(review.unused_columns, vec!["备注"]);
    assert_eq!(review.bad_rows, 3);
    let issues: Vec<(usize, &str, &ValueProblem)> = review
        .issues
        .iter()
        .map(|i| (i.line, i.field.as_str(), &i.problem))
        .collect();
    assert_eq!(
        issues,
        vec![
            (3, "thing1", &ValueProblem::TooLong(20)),
            (4, "character_string2", &ValueProblem::NoCjk),
            (7, "amount4", &ValueProblem::AmountFormat(12)),
        ]
    );
    let skipped: Vec<(usize, &str, SkipReason)> = review
        .skipped_lines
        .iter()
        .map(|s| (s.line, s.person.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        vec![
            (5, stranger, SkipReason::UnknownOpenid),
            (6, f0.as_str(), SkipReason::Duplicate),
            (8, f4.as_str(), SkipReason::Unsubscribed),
        ]
    );
    assert_eq!(review.will_receive, 2);
    assert_eq!(review.samples.len(), 2);
    let first = &review.samples[0];
    assert_eq!(first.line, 2);
    assert_eq!(first.message.data["thing1"].value, "蓝牙耳机");
    assert_eq!(first.message.data["amount4"].value, "¥199.00");
    assert_eq!(
        first.message.url.as_deref(),
        Some("https://shop.example.com/o/A0001")
    );
    assert_eq!(
        review.samples[1].message.data["character_string2"].value,
        "12345"
    );

    // The preset cannot go out to everyone with its variables unfilled.
    let everyone = w
        .engine
        .create_job(
            &admin(),
            &w.oa,
            preset,
            "全体",
            &RecipientSource::AllSubscribed,
            0,
        )
        .await
        .unwrap_err();
    assert_eq!(
        refusal(everyone),
        (
            "preset".into(),
            Problem::UnfilledVariables(vec!["商品".into(), "订单号".into(), "金额".into()])
        )
    );

    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &new_job(sheet.id, preset))
        .await
        .unwrap();
    assert_eq!((job.total, job.will_receive), (8, 2));
    assert_eq!(job.columns, vec!["商品", "订单号", "金额", "备注"]);
    assert_eq!(job.sheet_name.as_deref(), Some("积分.xlsx"));
    let rows = w
        .engine
        .job_recipients(job.id, &RecipientFilter::default(), 0, 100)
        .await
        .unwrap();
    let frozen: Vec<(Option<i64>, Option<SkipReason>, usize)> = rows
        .iter()
        .map(|r| (r.line, r.skip_reason, r.issues.len()))
        .collect();
    assert_eq!(
        frozen,
        vec![
            (Some(2), None, 0),
            (Some(3), Some(SkipReason::BadValues), 1),
            (Some(4), Some(SkipReason::BadValues), 1),
            (Some(5), Some(SkipReason::UnknownOpenid), 0),
            (Some(6), Some(SkipReason::Duplicate), 0),
            (Some(7), Some(SkipReason::BadValues), 1),
            (Some(8), Some(SkipReason::Unsubscribed), 0),
            (Some(10), None, 0),
        ]
    );
    assert_eq!(rows[7].values, vec!["音箱", "12345", "29.9", ""]);
    assert_eq!(
        rows[1].issues[0]
            .message(model::Lang::Zh)
            .split(" · ")
            .next(),
        Some("第 3 行")
    );

    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    wait_done(&w, job.id).await;
    let p = w.engine.job_progress(job.id).await.unwrap().unwrap();
    assert_eq!((p.sent, p.skipped, p.failed), (2, 6, 0));
    assert!(p.skip_reasons.contains(&(SkipReason::BadValues, 3)));
    for (openid, goods, order, amount) in [
        (&f0, "蓝牙耳机", "A0001", "¥199.00"),
        (&f5, "音箱", "12345", "¥29.9"),
    ] {
        assert_eq!(w.sim.ledger_received(openid), 1, "{openid}");
        let sent = &w.sim.messages(1, Some(openid))[0];
        assert_eq!(sent.payload["data"]["thing1"]["value"], goods);
        assert_eq!(sent.payload["data"]["character_string2"]["value"], order);
        assert_eq!(sent.payload["data"]["amount4"]["value"], amount);
        assert_eq!(sent.payload["data"]["const5"]["value"], "已发货");
        assert_eq!(
            sent.payload["url"],
            format!("https://shop.example.com/o/{order}")
        );
    }
    for openid in [&f1, &f2, &f3, &f4] {
        assert_eq!(w.sim.ledger_received(openid), 0, "{openid}");
    }
    assert!(rows
        .iter()
        .all(|r| r.state != RecipientState::Pending || r.skip_reason.is_none()));
}
on_both_databases!(an_xlsx_is_reviewed_line_by_line_and_each_row_sends_its_own_message);

async fn csv_by_unionid_in_gb18030_and_by_mini_program_openid(db: TestDb) {
    let w = world(&db).await;
    let preset = sheet_preset(&w, "¥5").await;
    let people = w.matched();
    let (a, b) = (&people[0], &people[1]);
    let unionid = |follower: &str| {
        (0..w.sim.config().followers)
            .find(|i| w.sim.follower_openid(*i).as_deref() == Some(follower))
            .and_then(|i| w.sim.follower_unionid(i))
            .unwrap()
    };
    let text = format!(
        "unionid,商品,订单号\r\n{},保温杯,B0001\r\n{},雨伞,B0002\r\n",
        unionid(&a.follower),
        unionid(&b.follower)
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    let sheet = w
        .engine
        .upload_sheet(&w.oa, "admin", "会员.csv", &gb)
        .await
        .unwrap();
    assert_eq!(sheet.person, PersonColumn::Unionid);
    let review = w
        .engine
        .review_sheet(&w.oa, sheet.id, preset)
        .await
        .unwrap();
    assert_eq!((review.will_receive, review.bad_rows), (2, 0));
    assert_eq!(review.samples[1].message.data["thing1"].value, "雨伞");

    // By the Mini Program's openid: the follower of the same unionid gets the template message.
    let text = format!("mp_openid,商品,订单号\n{},台灯,C0001\n", a.mp_openid);
    let sheet = w
        .engine
        .upload_sheet(&w.oa, "admin", "mp.csv", text.as_bytes())
        .await
        .unwrap();
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &new_job(sheet.id, preset))
        .await
        .unwrap();
    assert_eq!(job.will_receive, 1);
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    wait_done(&w, job.id).await;
    let sent = &w.sim.messages(1, Some(&a.follower))[0];
    assert_eq!(sent.payload["data"]["thing1"]["value"], "台灯");
}
on_both_databases!(csv_by_unionid_in_gb18030_and_by_mini_program_openid);

async fn refusals_name_the_line_and_column_and_create_nothing(db: TestDb) {
    let w = world(&db).await;
    let jobs_before = w.engine.jobs(w.oa.id, 100).await.unwrap().len();
    let upload = |bytes: Vec<u8>| {
        let w = &w;
        async move {
            refusal(
                w.engine
                    .upload_sheet(&w.oa, "admin", "x", &bytes)
                    .await
                    .unwrap_err(),
            )
            .1
        }
    };
    assert_eq!(
        upload(b"\x89PNG\r\n\x1a\n\0\0\0".to_vec()).await,
        Problem::NotASpreadsheet
    );
    assert_eq!(
        upload("姓名,积分\n张三,5\n".as_bytes().to_vec()).await,
        Problem::NoPersonColumn { line: 1 }
    );
    assert_eq!(
        upload(xlsx(&[
            vec![Cell::T("openid"), Cell::T(""), Cell::T("积分")],
            vec![Cell::T("o1"), Cell::T("5"), Cell::T("6")],
        ]))
        .await,
        Problem::EmptyHeader {
            line: 1,
            column: "B".into()
        }
    );

    // A variable the preset uses that the file lacks: the review says so, creating is refused.
    let preset = sheet_preset(&w, "¥{{积分}}").await;
    let f0 = w.sim.follower_openid(0).unwrap();
    let text = format!("openid,商品,订单号\n{f0},保温杯,B0001\n");
    let sheet = w
        .engine
        .upload_sheet(&w.oa, "admin", "x.csv", text.as_bytes())
        .await
        .unwrap();
    let review = w
        .engine
        .review_sheet(&w.oa, sheet.id, preset)
        .await
        .unwrap();
    assert_eq!(review.missing_columns, vec!["积分"]);
    assert_eq!(review.will_receive, 0);
    let refused = w
        .engine
        .create_job_with(&admin(), &w.oa, &new_job(sheet.id, preset))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(refused),
        ("file".into(), Problem::MissingColumns(vec!["积分".into()]))
    );
    // Subscribe messages do not take per-person values.
    let refused = w
        .engine
        .create_job_with(
            &admin(),
            &w.oa,
            &NewJob {
                channel: Channel::Subscribe,
                mp_preset_id: Some(w.mp_preset_id),
                ..new_job(sheet.id, preset)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(refused).1, Problem::SheetTemplateOnly);
    assert_eq!(
        w.engine.jobs(w.oa.id, 100).await.unwrap().len(),
        jobs_before
    );
    // Another account's upload is not found.
    let other = engine::accounts::Account {
        id: w.oa.id + 1000,
        ..w.oa.clone()
    };
    assert!(matches!(
        w.engine.review_sheet(&other, sheet.id, preset).await,
        Err(Error::NotFound)
    ));
}
on_both_databases!(refusals_name_the_line_and_column_and_create_nothing);

async fn failed_and_unknown_rows_make_a_new_job_with_their_own_values(db: TestDb) {
    let w = world(&db).await;
    let f = |i| w.sim.follower_openid(i).unwrap();
    let (f0, f1, f2) = (f(0), f(1), f(2));
    let csv =
        format!("openid,商品,订单号\n{f0},蓝牙耳机,A0001\n{f1},手机壳,A0002\n{f2},音箱,A0003\n");
    let sheet = w
        .engine
        .upload_sheet(&w.oa, "admin", "订单.csv", csv.as_bytes())
        .await
        .unwrap();
    let preset = sheet_preset(&w, "¥5").await;
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &new_job(sheet.id, preset))
        .await
        .unwrap();
    // Not before it has finished.
    let early = w
        .engine
        .sheet_of_failures(&w.oa, "admin", job.id)
        .await
        .unwrap_err();
    assert!(matches!(refusal(early).1, Problem::JobState { .. }));
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    wait_done(&w, job.id).await;
    // Nothing failed: nothing to send again.
    let none = w
        .engine
        .sheet_of_failures(&w.oa, "admin", job.id)
        .await
        .unwrap_err();
    assert_eq!(refusal(none).1, Problem::NoRecipients);
    // The first row failed and the third is unknown (as WeChat might have left them).
    engine::on_db!(w.engine.db(), |pool| sqlx::query(
        "UPDATE job_recipients SET state = CASE seq WHEN 1 THEN 'failed' ELSE 'unknown' END \
         WHERE job_id = $1 AND seq IN (1, 3)"
    )
    .bind(job.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();

    let again = w
        .engine
        .sheet_of_failures(&w.oa, "admin", job.id)
        .await
        .unwrap();
    assert_eq!(again.rows, 2);
    assert_eq!(again.person, PersonColumn::Openid);
    assert_eq!(again.columns, vec!["商品", "订单号"]);
    let review = w
        .engine
        .review_sheet(&w.oa, again.id, preset)
        .await
        .unwrap();
    assert_eq!(review.will_receive, 2);
    let lines: Vec<usize> = review.samples.iter().map(|s| s.line).collect();
    assert_eq!(lines, vec![2, 4], "the rows keep their lines in the file");
    let retry = w
        .engine
        .create_job_with(&admin(), &w.oa, &new_job(again.id, preset))
        .await
        .unwrap();
    wait_done(&w, retry.id).await;
    assert_eq!(
        w.sim.ledger_received(&f1),
        1,
        "a sent row is not sent again"
    );
    for (openid, goods) in [(&f0, "蓝牙耳机"), (&f2, "音箱")] {
        assert_eq!(w.sim.ledger_received(openid), 2, "{openid}");
        let last = &w.sim.messages(1, Some(openid))[0];
        assert_eq!(last.payload["data"]["thing1"]["value"], goods);
    }
}
on_both_databases!(failed_and_unknown_rows_make_a_new_job_with_their_own_values);
